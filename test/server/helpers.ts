import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../inference-server/config/load.js';
import { createLogger } from '../../inference-server/logging.js';
import { startServer, type RunningServer } from '../../inference-server/server.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const MODELS = join(FIXTURES, 'models');

export interface Manifest {
  rows: { columns: string[]; values: number[][] };
  expected: FixtureDetection[];
  mappings: { original: { width: number; height: number }; expected: FixtureDetection[] }[];
}
export interface FixtureDetection {
  class: number;
  name: string;
  score: number;
  box: { x1: number; y1: number; x2: number; y2: number };
}

export function manifest(): Manifest {
  return JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as Manifest;
}

/** A real server on an ephemeral port, every response checked against the OpenAPI document. */
export async function startTestServer(config: Record<string, unknown>): Promise<RunningServer> {
  const base = { server: { port: 0, host: '127.0.0.1' }, ocr: { enabled: false }, logging: { level: 'error' } };
  const merged = deepMerge(base, config);
  const cfg = loadConfig({ overrides: merged });
  return startServer(cfg, { validateResponses: true, log: createLogger('error', 'test', true) });
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export function boxIou(a: FixtureDetection['box'], b: FixtureDetection['box']): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}
