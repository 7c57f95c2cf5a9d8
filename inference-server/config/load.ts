import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { serverConfigSchema, type ServerConfig } from '../../contract/server-config.js';

/**
 * Configuration = YAML file (mounted from the operator's ConfigMap) + environment + flags, in
 * that order of precedence, validated once at start-up with messages that name the field.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Tree = Record<string, unknown>;

/** Env vars VISIONOPS__SECTION__KEY=value (e.g. VISIONOPS__OCR__WORKERS=4), plus a few common aliases. */
export function envOverrides(env: NodeJS.ProcessEnv): Tree {
  const out: Tree = {};
  const aliases: Record<string, string> = {
    PORT: 'server.port',
    LOG_LEVEL: 'logging.level',
    VISIONOPS_MODEL: 'model.path',
    VISIONOPS_ARCHIVE_DIR: 'archive.dir',
  };
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || raw === '') continue;
    let path: string | undefined = aliases[name];
    if (!path && name.startsWith('VISIONOPS__')) {
      path = name
        .slice('VISIONOPS__'.length)
        .split('__')
        .map((p) => p.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()))
        .join('.');
    }
    if (path) setPath(out, path, scalar(raw));
  }
  return out;
}

function scalar(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (raw.startsWith('[') || raw.startsWith('{')) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

export function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
    node = node[k] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? deepMerge(b as Tree, v as Tree)
        : v;
  }
  return out;
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `  - ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

export function validateConfig(tree: unknown, source: string): ServerConfig {
  const result = serverConfigSchema.safeParse(tree);
  if (!result.success) throw new ConfigError(`invalid configuration (${source}):\n${formatIssues(result.error)}`);
  return result.data;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Highest precedence (command-line flags). */
  overrides?: Tree;
  /** Lowest precedence (embedded defaults such as the bundled demo model). */
  defaults?: Tree;
}

export function loadConfig(opts: LoadOptions = {}): ServerConfig {
  let fromFile: Tree = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${opts.file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`configuration file ${opts.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`configuration file ${opts.file} must hold a mapping at the top level`);
    }
    fromFile = (parsed ?? {}) as Tree;
  }
  const merged = [fromFile, envOverrides(opts.env ?? {}), opts.overrides ?? {}].reduce(deepMerge, opts.defaults ?? {});
  return validateConfig(merged, opts.file ?? 'defaults, environment and flags');
}
