import { setTimeout as sleep } from 'node:timers/promises';
import { servingTagKey } from '../../contract/mlflow.js';
import { errorMessage, type Logger } from '../log.js';
import { type Connection, RegistryError } from './client.js';
import { connectionKey } from './connection.js';
import type { RegistryWatch } from './watch.js';

/** A registry version one ModelService serves. */
export interface ServedVersion {
  conn: Connection;
  name: string;
  version: string;
}

interface Current extends ServedVersion {
  connKey: string;
}

export interface ServingTagsOptions {
  log: Logger;
  /** Attempts per tag write before giving up (with a warning): the registry may be down for long. */
  attempts?: number;
  backoffMs?: number;
  now?: () => Date;
}

/**
 * Makes visible in MLflow which version serves where: while a version serves a ModelService, it
 * carries the tag `visionops.serving/<namespace>.<name>` (value: since when); when the
 * ModelService moves to another version or goes away, the tag is removed. Writes are in the
 * background, one chain per ModelService so a set never overtakes an earlier delete, retried
 * with backoff a bounded number of times; a reconcile never waits for them.
 */
export class ServingTags {
  private readonly current = new Map<string, Current>();
  private readonly chains = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly watch: RegistryWatch,
    private readonly opts: ServingTagsOptions,
  ) {}

  /** What `key` (namespace/name) serves now; undefined: no registry version. Cheap when nothing changed. */
  note(key: string, served: ServedVersion | undefined): void {
    const prev = this.current.get(key);
    const connKey = served ? connectionKey(served.conn) : '';
    if (prev && served && prev.connKey === connKey && prev.name === served.name && prev.version === served.version) return;
    if (!prev && !served) return;
    if (served) this.current.set(key, { ...served, connKey });
    else this.current.delete(key);
    const [namespace, name] = splitKey(key);
    const tag = servingTagKey(namespace, name);
    this.enqueue(key, async () => {
      if (prev) await this.write(prev, 'delete', tag);
      if (served) {
        // After an operator restart: the tag is usually there already, with its original time.
        const cached = this.watch.cachedVersion(served.conn, served.name, served.version);
        if (!prev && cached?.tags[tag] !== undefined) return;
        await this.write(served, 'set', tag, (this.opts.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'));
      }
    });
  }

  /** Waits for the writes in flight (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }

  stop(): void {
    this.stopped = true;
  }

  private enqueue(key: string, work: () => Promise<void>): void {
    const next = (this.chains.get(key) ?? Promise.resolve()).then(work).catch((err: unknown) => {
      this.opts.log.warn('could not update the serving tag in the registry', { modelService: key, error: errorMessage(err) });
    });
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  private async write(v: ServedVersion, op: 'set' | 'delete', tag: string, value = ''): Promise<void> {
    const attempts = this.opts.attempts ?? 6;
    const client = this.watch.acquireClient(v.conn);
    try {
      for (let i = 1; ; i++) {
        try {
          if (op === 'set') await client.setVersionTag(v.name, v.version, tag, value);
          else await client.deleteVersionTag(v.name, v.version, tag);
          return;
        } catch (err) {
          // Only an unreachable server gets better by waiting; a refusal (no edit permission) is logged once.
          const retry = err instanceof RegistryError && err.kind === 'Unreachable' && i < attempts && !this.stopped;
          if (!retry) throw err;
          await sleep((this.opts.backoffMs ?? 2000) * 2 ** (i - 1));
        }
      }
    } finally {
      this.watch.releaseClient(v.conn);
    }
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}
