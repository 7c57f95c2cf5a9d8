import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { MLFLOW_ENV } from '../../contract/mlflow.js';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import type { Connection, Credentials } from './client.js';

/** A ModelService's registry settings that cannot work as given; only a person (or a new Secret) fixes them. */
export class RegistryConfigError extends Error {
  override name = 'RegistryConfigError';
}

/** Reads a Secret's or ConfigMap's data (decoded); undefined when the object does not exist. */
export interface DataReader {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** The tracking server a ModelService uses: its own, or the operator's MLFLOW_TRACKING_URI. */
export function trackingUriOf(ms: ModelService, operatorDefault: string | undefined): string | undefined {
  return ms.spec.model.mlflow?.trackingUri ?? operatorDefault;
}

/** Identity of a connection for sharing polls: same server, same credentials, same trust. Never logged. */
export function connectionKey(c: Connection): string {
  return createHash('sha256').update(JSON.stringify([c.trackingUri.replace(/\/+$/, ''), c.credentials ?? null, c.ca ?? null])).digest('hex').slice(0, 24);
}

interface Cached {
  data: Record<string, string> | undefined;
  atMs: number;
}

/**
 * The Connection of each ModelService, from its spec, its credentials Secret and its CA
 * ConfigMap. Those are read with a short cache (one GET per object and interval, however many
 * ModelServices name it), so a rotated Secret is picked up within `ttlMs` without a watch on
 * every Secret in the cluster.
 */
export class Connections {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Record<string, string> | undefined>>();

  constructor(
    private readonly reader: DataReader,
    private readonly opts: { defaultTrackingUri: string | undefined; ttlMs: number; now?: () => number },
  ) {}

  async forModelService(ms: ModelService): Promise<Connection> {
    const { namespace } = ms.metadata;
    const settings = ms.spec.model.mlflow ?? {};
    const trackingUri = trackingUriOf(ms, this.opts.defaultTrackingUri);
    if (!trackingUri) {
      throw new RegistryConfigError(`no tracking server: set spec.model.mlflow.trackingUri, or ${MLFLOW_ENV.trackingUri} in the operator's environment`);
    }
    let credentials: Credentials | undefined;
    if (settings.credentialsSecret) {
      const data = await this.read('secret', namespace, settings.credentialsSecret);
      if (!data) throw new RegistryConfigError(`credentials Secret ${settings.credentialsSecret} not found in namespace ${namespace}`);
      credentials = credentialsFrom(data, settings.credentialsSecret);
    }
    let ca: string | undefined;
    if (settings.caBundle) {
      const { configMap } = settings.caBundle;
      const key = settings.caBundle.key ?? DEFAULTS.mlflowCaKey;
      const data = await this.read('configMap', namespace, configMap);
      if (!data) throw new RegistryConfigError(`CA bundle ConfigMap ${configMap} not found in namespace ${namespace}`);
      ca = data[key];
      if (!ca?.includes('-----BEGIN CERTIFICATE-----')) throw new RegistryConfigError(`CA bundle ConfigMap ${configMap} has no PEM certificates under key ${key}`);
    }
    return { trackingUri, ...(credentials ? { credentials } : {}), ...(ca ? { ca } : {}) };
  }

  private async read(kind: 'secret' | 'configMap', namespace: string, name: string): Promise<Record<string, string> | undefined> {
    const key = `${kind}/${namespace}/${name}`;
    const now = (this.opts.now ?? Date.now)();
    const hit = this.cache.get(key);
    if (hit && now - hit.atMs < this.opts.ttlMs) return hit.data;
    let p = this.inflight.get(key);
    if (!p) {
      p = (kind === 'secret' ? this.reader.secret(namespace, name) : this.reader.configMap(namespace, name)).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const data = await p;
    this.cache.set(key, { data, atMs: now });
    // Bounded: entries of objects nobody names any more age out on the next reads.
    if (this.cache.size > 4096) for (const [k, v] of this.cache) if (now - v.atMs >= this.opts.ttlMs) this.cache.delete(k);
    return data;
  }
}

function credentialsFrom(data: Record<string, string>, secret: string): Credentials {
  const token = data[MLFLOW_ENV.token]?.trim();
  if (token) return { token };
  const username = data[MLFLOW_ENV.username]?.trim();
  if (username) return { username, password: data[MLFLOW_ENV.password] ?? '' };
  throw new RegistryConfigError(`credentials Secret ${secret} has neither ${MLFLOW_ENV.token} nor ${MLFLOW_ENV.username} (with ${MLFLOW_ENV.password})`);
}

/** Reads Secrets and ConfigMaps with the operator's client (get on both; see config/rbac/role.yaml). */
export function kubeDataReader(core: CoreV1Api): DataReader {
  const missing = (err: unknown) => {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  };
  return {
    secret: (namespace, name) =>
      core.readNamespacedSecret({ name, namespace }).then(
        (s) => Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
        missing,
      ),
    configMap: (namespace, name) => core.readNamespacedConfigMap({ name, namespace }).then((c) => ({ ...c.data }), missing),
  };
}
