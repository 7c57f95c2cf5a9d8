import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';

/**
 * The archive of submitted images (the seed system kept every one on a volume). Content-addressed
 * by sha256, so names come from hex digits only and can never escape the directory; each file is
 * written to a temp name, fsynced and renamed, so a crash leaves either nothing or a whole file.
 */

const EXTENSIONS = { jpeg: 'jpg', png: 'png', webp: 'webp' } as const;
const SHA256 = /^[0-9a-f]{64}$/;

export interface ArchiveOptions {
  dir: string;
  retentionDays: number;
  maxBytes: number;
}

export interface StoredEntry {
  sha256: string;
  imagePath: string;
  sidecarPath: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Off the event loop (WebCrypto hashes on the libuv pool): a 20 MB body would block for ~40 ms. */
export async function sha256Async(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('hex');
}

export class ImageArchive {
  readonly root: string;

  constructor(private readonly opts: ArchiveOptions) {
    this.root = resolve(opts.dir);
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  /** Path of an entry; throws for anything that is not a sha256 (defence in depth). */
  pathFor(sha256: string, ext: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    if (!/^[a-z]{2,4}$/.test(ext)) throw new Error(`bad extension: ${ext}`);
    const path = resolve(this.root, sha256.slice(0, 2), `${sha256}.${ext}`);
    if (!path.startsWith(this.root + sep)) throw new Error('archive path escapes the archive directory');
    return path;
  }

  async store(bytes: Uint8Array, format: keyof typeof EXTENSIONS, result: unknown, sha256 = sha256Hex(bytes)): Promise<StoredEntry> {
    const imagePath = this.pathFor(sha256, EXTENSIONS[format]);
    const sidecarPath = this.pathFor(sha256, 'json');
    await mkdir(resolve(imagePath, '..'), { recursive: true });
    const exists = await stat(imagePath).then(
      (s) => s.size === bytes.byteLength,
      () => false,
    );
    if (!exists) await writeAtomic(imagePath, bytes);
    const sidecar = { sha256, format, bytes: bytes.byteLength, archivedAt: new Date().toISOString(), result };
    await writeAtomic(sidecarPath, Buffer.from(JSON.stringify(sidecar, null, 1)));
    return { sha256, imagePath, sidecarPath };
  }

  /** Deletes entries older than the retention, then the oldest until the total fits maxBytes. */
  async sweep(now = Date.now()): Promise<{ removed: number; bytes: number }> {
    const files = await this.listFiles();
    const cutoff = now - this.opts.retentionDays * 86_400_000;
    // Group image + sidecar so an entry goes as a whole.
    const entries = new Map<string, { paths: string[]; size: number; mtime: number }>();
    for (const f of files) {
      const sha = f.name.split('.')[0]!;
      const e = entries.get(sha) ?? { paths: [], size: 0, mtime: 0 };
      e.paths.push(f.path);
      e.size += f.size;
      e.mtime = Math.max(e.mtime, f.mtime);
      entries.set(sha, e);
    }
    const ordered = [...entries.values()].sort((a, b) => a.mtime - b.mtime);
    let total = ordered.reduce((n, e) => n + e.size, 0);
    let removed = 0;
    for (const e of ordered) {
      if (e.mtime >= cutoff && total <= this.opts.maxBytes) break;
      await Promise.all(e.paths.map((p) => unlink(p).catch(() => undefined)));
      total -= e.size;
      removed++;
    }
    return { removed, bytes: total };
  }

  private async listFiles(): Promise<{ name: string; path: string; size: number; mtime: number }[]> {
    const out: { name: string; path: string; size: number; mtime: number }[] = [];
    const shards = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const shard of shards) {
      if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
      const dir = join(this.root, shard.name);
      for (const name of await readdir(dir)) {
        const path = join(dir, name);
        if (name.startsWith('.tmp-')) {
          // Leftover of a write interrupted by a crash: never a complete entry.
          const s = await stat(path).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > 3_600_000) await rm(path, { force: true });
          continue;
        }
        if (!SHA256.test(name.split('.')[0] ?? '')) continue;
        const s = await stat(path).catch(() => undefined);
        if (s?.isFile()) out.push({ name, path, size: s.size, mtime: s.mtimeMs });
      }
    }
    return out;
  }
}

export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const dir = resolve(path, '..');
  const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o640);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename itself is durable only once the directory entry is flushed.
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
