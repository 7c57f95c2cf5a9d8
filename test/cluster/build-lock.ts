import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './process-util.js';

/**
 * Serialises builds into one bin directory: a CLI build and a test run, or two test runs, must
 * not both write the same binaries. mkdir is atomic, so the directory itself is the lock.
 */
export async function withBuildLock<T>(dir: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.build.lock');
  const owner = path.join(lock, 'pid');
  let waiting = false;
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(owner, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(await readFile(owner, 'utf8').catch(() => ''));
      // A lock whose owner died would block forever; one without a pid yet is only stale once
      // it is old (its owner may be between mkdir and writeFile).
      const age = Date.now() - (await stat(lock).then((s) => s.mtimeMs, () => 0));
      if (pid ? !isAlive(pid) : age > 10_000) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (!waiting) log(`waiting for the build running in process ${pid || '?'}`);
      waiting = true;
      await sleep(2000);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
