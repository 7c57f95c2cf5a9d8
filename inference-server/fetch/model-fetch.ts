import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The init container's job: put the model where the server expects it, or fail with one clear
 * line. The line also goes to the termination-message file, so `kubectl describe` and the
 * operator's ModelReady condition show it.
 */

export interface FetchOptions {
  uri: string;
  dest: string;
  sha256?: string;
  retries?: number;
  /** Per attempt. */
  timeoutMs?: number;
  maxBytes?: number;
  backoffMs?: number;
  log?: (line: string) => void;
}

export class FetchError extends Error {
  override name = 'FetchError';
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

export async function fetchModel(o: FetchOptions): Promise<{ bytes: number; sha256: string; attempts: number }> {
  const url = parseUri(o.uri);
  const expected = o.sha256?.toLowerCase();
  if (expected !== undefined && !/^[0-9a-f]{64}$/.test(expected)) throw new FetchError(`--sha256 ${o.sha256} is not 64 hex digits`, false);
  const retries = o.retries ?? 4;
  const log = o.log ?? (() => undefined);
  let last: FetchError | undefined;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    try {
      const got = await download(url, o);
      if (expected && got.sha256 !== expected) {
        throw new FetchError(`model ${o.uri} has sha256 ${got.sha256}, expected ${expected}`, false);
      }
      return { ...got, attempts: attempt };
    } catch (err) {
      last = err instanceof FetchError ? err : new FetchError(`model ${o.uri}: ${(err as Error).message}`, true);
      if (!last.retryable || attempt > retries) break;
      const wait = (o.backoffMs ?? 1000) * 2 ** (attempt - 1);
      log(`attempt ${attempt} failed (${last.message}); retrying in ${wait} ms`);
      await sleep(wait);
    }
  }
  throw last!;
}

function parseUri(uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new FetchError(`model uri ${uri} is not a URL`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError(`model uri ${uri}: only http and https can be fetched (pvc:// is mounted, not fetched)`, false);
  }
  return url;
}

/**
 * One attempt: streams the body through the hash into a temporary file next to dest and renames
 * it into place only when the hash matches (or none was asked for). `headers` carry credentials
 * for the MLflow artifact proxy (registry-fetch.ts).
 */
export async function download(
  url: URL,
  o: Pick<FetchOptions, 'dest' | 'sha256' | 'timeoutMs' | 'maxBytes'>,
  headers: Record<string, string> = {},
): Promise<{ bytes: number; sha256: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 300_000), redirect: 'follow', headers });
  if (!res.ok || !res.body) {
    // 4xx other than 408/429 will not get better by asking again.
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new FetchError(`GET ${url.href} answered HTTP ${res.status} ${res.statusText}`.trim(), retryable);
  }
  const maxBytes = o.maxBytes ?? 2 * 2 ** 30;
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) return cb(new FetchError(`model ${url.href} is larger than ${maxBytes} bytes`, false));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await mkdir(dirname(o.dest), { recursive: true });
  const tmp = join(dirname(o.dest), `.partial-${process.pid}-${Date.now()}`);
  try {
    await pipeline(Readable.fromWeb(res.body as never), meter, createWriteStream(tmp, { flags: 'wx' }));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const sha256 = hash.digest('hex');
  if (o.sha256 && sha256 !== o.sha256.toLowerCase()) {
    await rm(tmp, { force: true });
    return { bytes, sha256 };
  }
  await rename(tmp, o.dest);
  return { bytes, sha256 };
}

/** Writes the reason where Kubernetes reads a terminated container's message; best effort. */
export async function writeTerminationMessage(message: string, path = '/dev/termination-log'): Promise<void> {
  await writeFile(path, message.slice(0, 4000)).catch(() => undefined);
}
