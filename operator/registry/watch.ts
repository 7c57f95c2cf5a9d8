import type { ModelsUri } from '../../contract/mlflow.js';
import { errorMessage, type Logger } from '../log.js';
import { type Connection, type ModelVersionInfo, RegistryClient, RegistryError, type RegistryObserver } from './client.js';
import { connectionKey } from './connection.js';
import type { Resolution } from './decide.js';

export interface RegistryWatchOptions {
  /** How often each (server, model) is asked for its aliases. */
  pollIntervalMs: number;
  /** Each wait is the interval times 1 ± jitter, so many operators (or models) do not poll in step. */
  jitter: number;
  /** Longest wait between polls of a failing server (the wait doubles from the interval up to this). */
  maxBackoffMs: number;
  /** A version's details (tags, status) are asked again after this long; source and run never change. */
  versionRefreshMs: number;
  /** A ModelService whose resolution changed: reconcile it. */
  enqueue: (modelService: string) => void;
  log: Logger;
  observe?: RegistryObserver;
  requestTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
}

interface VersionSlot {
  info?: ModelVersionInfo;
  error?: RegistryError;
  atMs: number;
}

interface Subscriber {
  ref: ModelsUri;
  /** What the ModelService last saw (signature); a poll that changes it enqueues the ModelService. */
  seen: string;
}

interface Entry {
  id: string;
  conn: Connection;
  client: RegistryClient;
  name: string;
  aliases?: Map<string, string>;
  /** The last poll's failure; undefined after a successful one. */
  error?: RegistryError;
  polled: boolean;
  failures: number;
  inflight?: Promise<void>;
  timer?: NodeJS.Timeout;
  versions: Map<string, VersionSlot>;
  versionInflight: Map<string, Promise<void>>;
  subscribers: Map<string, Subscriber>;
  /** Last state logged, so a server that stays down is logged once, not on every poll. */
  logged: string;
}

function asRegistryError(err: unknown): RegistryError {
  return err instanceof RegistryError ? err : new RegistryError(errorMessage(err), 'Unreachable');
}

function signature(r: Resolution): string {
  return r.ok ? `ok:${r.version.name}/${r.version.version}:${r.version.status}:${r.version.tags.onnx_sha256 ?? ''}` : `err:${r.kind}`;
}

/**
 * Follows the registry for the operator: one poll per distinct (tracking server + credentials,
 * registered model), however many ModelServices use it, each asking `registered-models/get` for
 * all aliases at once; version details are asked once per version and refreshed slowly. When a
 * poll changes what a ModelService would resolve to (an alias moved, a version vanished, the
 * server went away or came back), that ModelService is enqueued for a reconcile; nothing else is.
 *
 * A failing server is polled with exponential backoff (bounded), and its state is logged when
 * it changes, not per poll or per ModelService.
 */
export class RegistryWatch {
  private readonly entries = new Map<string, Entry>();
  /** ModelService key -> entry id. */
  private readonly subscriptions = new Map<string, string>();
  private readonly clients = new Map<string, { client: RegistryClient; users: number }>();
  private stopped = false;

  constructor(private readonly opts: RegistryWatchOptions) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Distinct (server, model) pairs being followed. */
  get followed(): number {
    return this.entries.size;
  }

  /**
   * What `ref` resolves to now, for this ModelService, which from now on is enqueued when that
   * changes. The first ModelService of a (server, model) waits for its first poll; later ones
   * answer from memory.
   */
  async resolve(modelService: string, conn: Connection, ref: ModelsUri): Promise<Resolution> {
    const entry = this.entryFor(conn, ref.name);
    this.subscribe(modelService, entry, ref);
    if (!entry.polled) await this.poll(entry);
    const version = this.versionOf(entry, ref);
    if (version !== undefined && !entry.versions.has(version) && !entry.error) await this.fetchVersion(entry, version);
    const state = this.stateOf(entry, ref);
    const sub = entry.subscribers.get(modelService);
    if (sub) sub.seen = signature(state);
    return state;
  }

  /** The ModelService no longer follows the registry (deleted, or a non-registry URI now). */
  unsubscribe(modelService: string): void {
    const id = this.subscriptions.get(modelService);
    if (id === undefined) return;
    this.subscriptions.delete(modelService);
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.subscribers.delete(modelService);
    if (entry.subscribers.size === 0) this.drop(entry);
  }

  /** A version's details as last fetched, if this (server, model) is followed. */
  cachedVersion(conn: Connection, name: string, version: string): ModelVersionInfo | undefined {
    return this.entries.get(`${connectionKey(conn)}/${name}`)?.versions.get(version)?.info;
  }

  /**
   * A client for this connection; release it when done. Polls share one per connection; other
   * uses (tag writes) get their own, so a burst of writes never delays a poll.
   */
  acquireClient(conn: Connection, use: 'poll' | 'write' = 'write'): RegistryClient {
    const key = `${use}:${connectionKey(conn)}`;
    let c = this.clients.get(key);
    if (!c) this.clients.set(key, (c = { client: new RegistryClient(conn, this.clientOptions()), users: 0 }));
    c.users++;
    return c.client;
  }

  releaseClient(conn: Connection, use: 'poll' | 'write' = 'write'): void {
    const key = `${use}:${connectionKey(conn)}`;
    const c = this.clients.get(key);
    if (!c) return;
    c.users--;
    if (c.users <= 0) {
      c.client.close();
      this.clients.delete(key);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
    this.subscriptions.clear();
    for (const c of this.clients.values()) c.client.close();
    this.clients.clear();
  }

  private clientOptions() {
    return { ...(this.opts.observe ? { observe: this.opts.observe } : {}), ...(this.opts.requestTimeoutMs ? { timeoutMs: this.opts.requestTimeoutMs } : {}) };
  }

  private entryFor(conn: Connection, name: string): Entry {
    const id = `${connectionKey(conn)}/${name}`;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {
        id,
        conn,
        client: this.acquireClient(conn, 'poll'),
        name,
        polled: false,
        failures: 0,
        versions: new Map(),
        versionInflight: new Map(),
        subscribers: new Map(),
        logged: 'ok',
      };
      this.entries.set(id, entry);
      this.schedule(entry);
    }
    return entry;
  }

  private subscribe(modelService: string, entry: Entry, ref: ModelsUri): void {
    const previous = this.subscriptions.get(modelService);
    if (previous !== undefined && previous !== entry.id) this.unsubscribe(modelService);
    this.subscriptions.set(modelService, entry.id);
    const sub = entry.subscribers.get(modelService);
    if (sub) sub.ref = ref;
    else entry.subscribers.set(modelService, { ref, seen: '' });
  }

  private drop(entry: Entry): void {
    clearTimeout(entry.timer);
    this.entries.delete(entry.id);
    this.releaseClient(entry.conn, 'poll');
  }

  private versionOf(entry: Entry, ref: ModelsUri): string | undefined {
    return ref.version ?? entry.aliases?.get(ref.alias);
  }

  private stateOf(entry: Entry, ref: ModelsUri): Resolution {
    if (entry.error) {
      const e = entry.error;
      return { ok: false, kind: e.kind, message: e.kind === 'NotFound' ? `registered model ${entry.name} does not exist (${e.message})` : e.message };
    }
    const version = this.versionOf(entry, ref);
    if (version === undefined) {
      const known = [...(entry.aliases?.keys() ?? [])].sort();
      return { ok: false, kind: 'NotFound', message: `${entry.name} has no alias ${ref.alias} (its aliases: ${known.length ? known.join(', ') : 'none'})` };
    }
    const slot = entry.versions.get(version);
    if (slot?.info) return { ok: true, version: slot.info, trackingUri: entry.conn.trackingUri };
    if (slot?.error) {
      const e = slot.error;
      return { ok: false, kind: e.kind, message: e.kind === 'NotFound' ? `${entry.name} has no version ${version}` : e.message };
    }
    return { ok: false, kind: 'Unreachable', message: `version ${version} of ${entry.name} not fetched yet` };
  }

  /** One poll of a (server, model), deduplicated: the aliases, then the details of the versions its ModelServices need. */
  private poll(entry: Entry): Promise<void> {
    entry.inflight ??= (async () => {
      try {
        const aliases = await entry.client.aliases(entry.name);
        if (entry.aliases) this.logMoves(entry, entry.aliases, aliases);
        entry.aliases = aliases;
        entry.error = undefined;
        entry.failures = 0;
      } catch (err) {
        entry.error = asRegistryError(err);
        // A missing model is an answer, polled at the normal pace; the rest backs off.
        entry.failures = entry.error.kind === 'NotFound' ? 0 : entry.failures + 1;
      }
      entry.polled = true;
      if (!entry.error) {
        const needed = new Set<string>();
        for (const s of entry.subscribers.values()) {
          const v = this.versionOf(entry, s.ref);
          if (v !== undefined) needed.add(v);
        }
        const now = this.now();
        const stale = [...needed].filter((v) => {
          const slot = entry.versions.get(v);
          // Unusable answers are asked again every poll: a missing tag may be added, a version created.
          return !slot || slot.error !== undefined || slot.info?.status !== 'READY' || now - slot.atMs >= this.opts.versionRefreshMs;
        });
        await Promise.all(stale.map((v) => this.fetchVersion(entry, v)));
        for (const v of entry.versions.keys()) if (!needed.has(v)) entry.versions.delete(v);
      }
      this.logState(entry);
    })().finally(() => {
      entry.inflight = undefined;
    });
    return entry.inflight;
  }

  private fetchVersion(entry: Entry, version: string): Promise<void> {
    let p = entry.versionInflight.get(version);
    if (!p) {
      p = entry.client
        .modelVersion(entry.name, version)
        .then(
          (info) => void entry.versions.set(version, { info, atMs: this.now() }),
          (err: unknown) => {
            const error = asRegistryError(err);
            // Keep a known version through a network failure: the registry is down, not the version.
            const known = entry.versions.get(version)?.info;
            if (known && error.kind === 'Unreachable') return;
            entry.versions.set(version, { error, atMs: this.now() });
          },
        )
        .finally(() => entry.versionInflight.delete(version));
      entry.versionInflight.set(version, p);
    }
    return p;
  }

  /** Once per (server, model) and move, however many ModelServices follow the alias. */
  private logMoves(entry: Entry, before: Map<string, string>, after: Map<string, string>): void {
    const followed = new Set([...entry.subscribers.values()].map((s) => s.ref.alias).filter((a) => a !== undefined));
    for (const alias of followed) {
      const [from, to] = [before.get(alias), after.get(alias)];
      if (from !== to) this.opts.log.info('registry alias moved', { trackingUri: entry.conn.trackingUri, model: entry.name, alias, from: from ?? null, to: to ?? null });
    }
  }

  private logState(entry: Entry): void {
    const state = entry.error ? entry.error.kind : 'ok';
    if (state === entry.logged) return;
    const fields = { trackingUri: entry.conn.trackingUri, model: entry.name, modelServices: entry.subscribers.size };
    if (state === 'ok') this.opts.log.info('registry answers again', { ...fields, was: entry.logged });
    else if (state === 'NotFound') this.opts.log.info('registered model not found', { ...fields, error: entry.error?.message });
    else this.opts.log.warn('registry request failed; polling with backoff', { ...fields, kind: state, error: entry.error?.message });
    entry.logged = state;
  }

  private delay(entry: Entry): number {
    const { pollIntervalMs, maxBackoffMs, jitter } = this.opts;
    const base = entry.failures > 0 ? Math.min(pollIntervalMs * 2 ** (entry.failures - 1), Math.max(maxBackoffMs, pollIntervalMs)) : pollIntervalMs;
    const r = (this.opts.random ?? Math.random)();
    return Math.max(1, Math.round(base * (1 + jitter * (2 * r - 1))));
  }

  private schedule(entry: Entry): void {
    if (this.stopped) return;
    entry.timer = setTimeout(() => void this.tick(entry), this.delay(entry));
    entry.timer.unref();
  }

  private async tick(entry: Entry): Promise<void> {
    if (this.entries.get(entry.id) !== entry) return;
    try {
      await this.poll(entry);
      for (const [modelService, sub] of entry.subscribers) {
        const s = signature(this.stateOf(entry, sub.ref));
        // Refused credentials are re-read from the Secret by the reconcile (a fixed Secret makes a new entry).
        if (s !== sub.seen || entry.error?.kind === 'Unauthorized') {
          sub.seen = s;
          this.opts.enqueue(modelService);
        }
      }
    } catch (err) {
      this.opts.log.error('registry poll failed unexpectedly', { model: entry.name, error: errorMessage(err) });
    } finally {
      if (this.entries.get(entry.id) === entry) this.schedule(entry);
    }
  }
}
