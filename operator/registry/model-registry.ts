import { parseModelsUri } from '../../contract/mlflow.js';
import type { ModelService, ModelServiceStatus } from '../../crds/modelservice.js';
import { errorMessage, type Logger } from '../log.js';
import type { Connection, RegistryObserver } from './client.js';
import { Connections, type DataReader, RegistryConfigError } from './connection.js';
import { decidePin, type PinDecision, type Resolution } from './decide.js';
import type { RegistryPin } from './pin.js';
import { ServingTags } from './serving-tags.js';
import { RegistryWatch } from './watch.js';

/** Operator-wide registry settings (VISIONOPS_REGISTRY_*, MLFLOW_TRACKING_URI). */
export interface RegistrySettings {
  /** Used by ModelServices without spec.model.mlflow.trackingUri. */
  defaultTrackingUri: string | undefined;
  pollIntervalMs: number;
  jitter: number;
  maxBackoffMs: number;
  requestTimeoutMs: number;
}

export const DEFAULT_REGISTRY_SETTINGS: RegistrySettings = {
  defaultTrackingUri: undefined,
  pollIntervalMs: 30_000,
  jitter: 0.2,
  maxBackoffMs: 300_000,
  requestTimeoutMs: 10_000,
};

export interface ModelRegistryDeps {
  settings: RegistrySettings;
  reader: DataReader;
  /** A ModelService to reconcile because its resolution changed. */
  enqueue: (key: string) => void;
  log: Logger;
  observe?: RegistryObserver;
}

export type RegistryDecision = PinDecision & { conn?: Connection };

/**
 * The operator's side of the MLflow registry, as the reconciler uses it: which version a
 * ModelService's Deployment gets (decide), and what is reported back to MLflow once a version
 * serves (served). Everything behind it (polling, credentials, tag writes) stays in this folder.
 */
export class ModelRegistry {
  readonly watch: RegistryWatch;
  private readonly connections: Connections;
  private readonly tags: ServingTags;

  constructor(private readonly deps: ModelRegistryDeps) {
    const s = deps.settings;
    this.watch = new RegistryWatch({
      pollIntervalMs: s.pollIntervalMs,
      jitter: s.jitter,
      maxBackoffMs: s.maxBackoffMs,
      // Tags and status rarely change once a version is registered; aliases are what moves.
      versionRefreshMs: s.pollIntervalMs * 10,
      requestTimeoutMs: s.requestTimeoutMs,
      enqueue: deps.enqueue,
      log: deps.log,
      ...(deps.observe ? { observe: deps.observe } : {}),
    });
    // The Secret is re-read at most once per poll interval: a rotated one takes effect as fast as an alias move.
    this.connections = new Connections(deps.reader, { defaultTrackingUri: s.defaultTrackingUri, ttlMs: s.pollIntervalMs });
    this.tags = new ServingTags(this.watch, { log: deps.log });
  }

  /** For a ModelService with a models:/ URI: the version to pin, given the one live in its Deployment. */
  async decide(key: string, ms: ModelService, live: RegistryPin | undefined): Promise<RegistryDecision> {
    const ref = parseModelsUri(ms.spec.model.uri);
    if (!ref) {
      this.watch.unsubscribe(key);
      const message = `model.uri ${ms.spec.model.uri}: expected models:/<name>@<alias> or models:/<name>/<version>`;
      return { conditions: [], blocked: { reason: 'InvalidSpec', message } };
    }
    let conn: Connection;
    try {
      conn = await this.connections.forModelService(ms);
    } catch (err) {
      this.watch.unsubscribe(key);
      const message = err instanceof RegistryConfigError ? err.message : `cannot read the registry settings: ${errorMessage(err)}`;
      const r: Resolution = { ok: false, kind: 'Config', message };
      return decidePin(ms, ref, r, live);
    }
    const r = await this.watch.resolve(key, conn, ref);
    return { ...decidePin(ms, ref, r, live), conn };
  }

  /** The ModelService does not use the registry (any more). */
  release(key: string): void {
    this.watch.unsubscribe(key);
  }

  /** After a status was computed: the registry version its ready pods serve, for the serving tag. */
  served(key: string, conn: Connection | undefined, model: ModelServiceStatus['model'] | undefined): void {
    const ref = model?.resolvedUri ? parseModelsUri(model.resolvedUri) : undefined;
    this.tags.note(key, conn && ref?.version !== undefined ? { conn, name: ref.name, version: ref.version } : undefined);
  }

  /** The ModelService is gone. */
  forget(key: string): void {
    this.watch.unsubscribe(key);
    this.tags.note(key, undefined);
  }

  async flush(): Promise<void> {
    await this.tags.flush();
  }

  stop(): void {
    this.tags.stop();
    this.watch.stop();
  }
}
