/**
 * Reads the licence plates in an image with a model served by a ModelService.
 *
 *   npx tsx examples/client.ts car.jpg --url http://plate-reader.default.svc.cluster.local
 *
 * From outside the cluster, forward the Service first and use the local port:
 *   kubectl port-forward svc/plate-reader 8080:80 &
 *   npx tsx examples/client.ts car.jpg --url http://localhost:8080
 *
 * The address is also in the ModelService status: kubectl get msvc plate-reader -o jsonpath='{.status.address}'
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface Detection {
  class: string;
  score: number;
  box: { x1: number; y1: number; x2: number; y2: number };
  text?: string;
  textConfidence?: number;
}

export interface ReadResponse {
  width: number;
  height: number;
  model: { name: string; version: string };
  detections: Detection[];
  timings: Record<string, number>;
}

const TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };

export function contentTypeFor(file: string): string {
  const type = TYPES[extname(file).toLowerCase()];
  if (!type) throw new Error(`${file}: the server reads JPEG, PNG and WebP (.jpg, .jpeg, .png, .webp)`);
  return type;
}

/** POST /v1/read with the raw image as the body; the server's own error message on failure. */
export async function readImage(baseUrl: string, image: Uint8Array, contentType: string, timeoutMs = 30_000): Promise<ReadResponse> {
  const res = await fetch(new URL('/v1/read', baseUrl), {
    method: 'POST',
    headers: { 'Content-Type': contentType, Accept: 'application/json' },
    body: image,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.text();
  if (!res.ok) {
    let detail = body;
    try {
      const err = (JSON.parse(body) as { error?: { code?: string; message?: string } }).error;
      if (err?.message) detail = `${err.code ?? 'error'}: ${err.message}`;
    } catch {
      // Not JSON (a proxy's error page): show it as it came.
    }
    throw new Error(`POST /v1/read answered ${res.status}: ${detail.trim()}`);
  }
  return JSON.parse(body) as ReadResponse;
}

/** One line per plate the model found, best first; plates OCR could not read say so. */
export function formatPlates(r: ReadResponse, plateClass = 'plate'): string[] {
  const plates = r.detections.filter((d) => d.class === plateClass).sort((a, b) => b.score - a.score);
  const header = `${r.model.name}@${r.model.version}: ${plates.length} plate${plates.length === 1 ? '' : 's'} in ${r.width}x${r.height}`;
  return [
    header,
    ...plates.map((d) => {
      const text = d.text ? d.text.padEnd(10) : '(unread)  ';
      const ocr = d.textConfidence !== undefined ? ` ocr ${d.textConfidence.toFixed(2)}` : '';
      const b = d.box;
      return `  ${text} score ${d.score.toFixed(2)}${ocr}  box ${Math.round(b.x1)},${Math.round(b.y1)} ${Math.round(b.x2)},${Math.round(b.y2)}`;
    }),
  ];
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.VISIONOPS_URL ?? 'http://localhost:8080' },
      class: { type: 'string', default: 'plate' },
      json: { type: 'boolean', default: false },
    },
  });
  const [file] = positionals;
  if (!file) {
    console.error('usage: npx tsx examples/client.ts IMAGE [--url http://<service>] [--class plate] [--json]');
    process.exit(2);
  }
  const result = await readImage(values.url, await readFile(file), contentTypeFor(file));
  console.log(values.json ? JSON.stringify(result, null, 2) : formatPlates(result, values.class).join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
