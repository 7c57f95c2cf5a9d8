import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve, sep } from 'node:path';

/**
 * The archive of submitted images (the seed system kept every one on a volume). Content-addressed
 * by sha256, so names come from hex digits only and can never escape the directory; each file is
 * written to a temp name, fsynced and renamed, so a crash leaves either nothing or a whole file.
 *
 * An entry is its image: `ab/<sha256>.<ext>`. Its sidecar (`ab/<sha256>.json`, the result) is
 * written first, so a reader that finds an image always finds its sidecar; a crash between the two
 * leaves a sidecar without an image, which no reader counts as an entry and the next start removes.
 *
 * Temp files are named `.tmp.<host>.<pid>.<random>`: a starting server removes those of its own
 * host whose process is gone (in a pod, the hostname is the pod's, so these are its previous
 * container's), and leaves those of other replicas sharing the volume to the hour-old rule.
 */

const EXTENSIONS = { jpeg: 'jpg', png: 'png', webp: 'webp' } as const;
const SHA256 = /^[0-9a-f]{64}$/;
/** A write takes milliseconds; a temp file or lone sidecar this old is a crash leftover, whoever wrote it. */
const STALE_MS = 3_600_000;

/** This process as a writer: host and pid, as temp names and sidecars carry them. */
export interface Writer {
  host: string;
  pid: number;
}

export const thisWriter = (): Writer => ({ host: hostname().replace(/[^A-Za-z0-9-]/g, '_') || 'host', pid: process.pid });

/** `.tmp.<host>.<pid>.<random>` (host without dots), or undefined for any other name. */
export function tempOwner(name: string): Writer | undefined {
  const m = /^\.tmp\.([A-Za-z0-9_-]+)\.(\d+)\.[0-9a-f]+$/.exec(name);
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

/** Whether a leftover of `owner` can only be a dead write: this host's, and not a live process's other than this one. */
function orphanedBy(owner: Writer, me: Writer): boolean {
  if (owner.host !== me.host) return false;
  if (owner.pid === me.pid) return true; // a previous life of this container; nothing is written before init()
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

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
  private readonly writer: Writer;

  constructor(
    private readonly opts: ArchiveOptions,
    writer: Writer = thisWriter(),
  ) {
    this.root = resolve(opts.dir);
    this.writer = writer;
  }

  /** Creates the directory and removes what writes of this host's dead processes left: temp files and lone sidecars. */
  async init(): Promise<{ tempFiles: number; loneSidecars: number }> {
    await mkdir(this.root, { recursive: true });
    const removed = { tempFiles: 0, loneSidecars: 0 };
    for (const dir of await this.shards()) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const present = new Set(names);
      for (const name of names) {
        const path = join(dir, name);
        const owner = tempOwner(name);
        if (owner && orphanedBy(owner, this.writer)) {
          await rm(path, { force: true });
          removed.tempFiles++;
        } else if (name.endsWith('.json') && SHA256.test(name.slice(0, -5))) {
          const sha = name.slice(0, -5);
          if (Object.values(EXTENSIONS).some((ext) => present.has(`${sha}.${ext}`))) continue;
          const by = await readFile(path, 'utf8').then((t) => (JSON.parse(t) as { writer?: Writer }).writer, () => undefined);
          if (by && typeof by.host === 'string' && typeof by.pid === 'number' && orphanedBy(by, this.writer)) {
            await rm(path, { force: true });
            removed.loneSidecars++;
          }
        }
      }
    }
    return removed;
  }

  private async shards(): Promise<string[]> {
    const shards = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return shards.filter((d) => d.isDirectory() && /^[0-9a-f]{2}$/.test(d.name)).map((d) => join(this.root, d.name));
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
    // The sidecar first: once the image is there (the entry is), its sidecar is too.
    const sidecar = { sha256, format, bytes: bytes.byteLength, archivedAt: new Date().toISOString(), writer: this.writer, result };
    await writeAtomic(sidecarPath, Buffer.from(JSON.stringify(sidecar, null, 1)), this.writer);
    if (!exists) await writeAtomic(imagePath, bytes, this.writer);
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
    for (const [sha, e] of entries) {
      // A sidecar whose image never came (another replica's crash): not an entry, gone once stale.
      if (e.paths.every((p) => p.endsWith('.json'))) {
        if (now - e.mtime > STALE_MS) await Promise.all(e.paths.map((p) => unlink(p).catch(() => undefined)));
        entries.delete(sha);
      }
    }
    const ordered = [...entries.values()].sort((a, b) => a.mtime - b.mtime);
    let total = ordered.reduce((n, e) => n + e.size, 0);
    let removed = 0;
    for (const e of ordered) {
      if (e.mtime >= cutoff && total <= this.opts.maxBytes) break;
      // The image (the entry) goes first, so a reader never finds an image without its sidecar.
      const images = e.paths.filter((p) => !p.endsWith('.json'));
      await Promise.all(images.map((p) => unlink(p).catch(() => undefined)));
      await Promise.all(e.paths.filter((p) => p.endsWith('.json')).map((p) => unlink(p).catch(() => undefined)));
      total -= e.size;
      removed++;
    }
    return { removed, bytes: total };
  }

  private async listFiles(): Promise<{ name: string; path: string; size: number; mtime: number }[]> {
    const out: { name: string; path: string; size: number; mtime: number }[] = [];
    for (const dir of await this.shards()) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const path = join(dir, name);
        if (name.startsWith('.tmp')) {
          // Leftover of a write interrupted by a crash (any writer's): never a complete entry.
          const s = await stat(path).catch(() => undefined);
          if (s && Date.now() - s.mtimeMs > STALE_MS) await rm(path, { force: true });
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

export async function writeAtomic(path: string, data: Uint8Array, writer: Writer = thisWriter()): Promise<void> {
  const dir = resolve(path, '..');
  const tmp = join(dir, `.tmp.${writer.host}.${writer.pid}.${randomBytes(8).toString('hex')}`);
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
