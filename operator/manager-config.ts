import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { DEFAULT_ELECTION_TIMING, type ElectionTiming } from './kube/lease.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { OperatorConfigError } from './config.js';
import { DEFAULT_REGISTRY_SETTINGS, type RegistrySettings } from './registry/model-registry.js';

/** How the controller runs (as opposed to OperatorConfig: what it builds). */
export interface ManagerSettings {
  /** Only ModelServices (and children) in this namespace; undefined watches all. */
  watchNamespace: string | undefined;
  /**
   * Reconciles running at once (controller-runtime's MaxConcurrentReconciles). A reconcile mostly
   * waits on the API server (creating a ModelService's children takes three round trips), so a
   * burst of new ModelServices goes as fast as the requests kept in flight, until the API server
   * is the limit. One key is never reconciled twice at once, whatever the number.
   */
  workers: number;
  /** Every ModelService is reconciled again this often, changed or not. */
  resyncPeriodMs: number;
  /** A watch silent for this long is replaced (client-node watches can stall without an error). */
  watchdogMs: number;
  metricsBindAddress: string;
  healthBindAddress: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    identity: string;
    timing: ElectionTiming;
  };
  logLevel: LogLevel;
  /** Following the MLflow registry for models:/ URIs. */
  registry: RegistrySettings;
}

export const DEFAULT_LEASE_NAME = 'visionops-operator-leader';

function positiveNumber(env: Record<string, string | undefined>, key: string, fallback: number, opts: { integer?: boolean } = {}): number {
  const raw = env[key]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (opts.integer && !Number.isInteger(n))) throw new OperatorConfigError(`${key}=${raw} is not a positive ${opts.integer ? 'integer' : 'number'}`);
  return n;
}

function bool(env: Record<string, string | undefined>, key: string, fallback: boolean): boolean {
  const raw = env[key]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new OperatorConfigError(`${key}=${env[key]} is not a boolean (true or false)`);
}

/**
 * Reads VISIONOPS_* (and the POD_NAME/POD_NAMESPACE the manager Deployment injects). Outside a
 * cluster (`npm run operator`) the lease goes to `fallbackNamespace`, the kubeconfig's namespace.
 */
export function managerSettingsFromEnv(env: Record<string, string | undefined>, fallbackNamespace = 'default'): ManagerSettings {
  const level = (env.VISIONOPS_LOG_LEVEL?.trim() || 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new OperatorConfigError(`VISIONOPS_LOG_LEVEL=${level} is not one of ${LOG_LEVELS.join(', ')}`);
  const seconds = (key: string, fallback: number) => positiveNumber(env, key, fallback) * 1000;
  const timing: ElectionTiming = {
    leaseDurationMs: seconds('VISIONOPS_LEASE_DURATION_SECONDS', DEFAULT_ELECTION_TIMING.leaseDurationMs / 1000),
    renewDeadlineMs: seconds('VISIONOPS_RENEW_DEADLINE_SECONDS', DEFAULT_ELECTION_TIMING.renewDeadlineMs / 1000),
    retryPeriodMs: seconds('VISIONOPS_RETRY_PERIOD_SECONDS', DEFAULT_ELECTION_TIMING.retryPeriodMs / 1000),
  };
  // client-go refuses these too: a leader must give up before a standby may take over.
  if (!(timing.leaseDurationMs > timing.renewDeadlineMs && timing.renewDeadlineMs > timing.retryPeriodMs)) {
    throw new OperatorConfigError('leader election needs lease duration > renew deadline > retry period');
  }
  return {
    watchNamespace: env.VISIONOPS_WATCH_NAMESPACE?.trim() || undefined,
    workers: positiveNumber(env, 'VISIONOPS_WORKERS', 16, { integer: true }),
    resyncPeriodMs: seconds('VISIONOPS_RESYNC_PERIOD_SECONDS', 600),
    watchdogMs: seconds('VISIONOPS_WATCHDOG_SECONDS', 300),
    metricsBindAddress: env.VISIONOPS_METRICS_BIND_ADDRESS?.trim() || ':8080',
    healthBindAddress: env.VISIONOPS_HEALTH_PROBE_BIND_ADDRESS?.trim() || ':8081',
    leaderElection: {
      enabled: bool(env, 'VISIONOPS_LEADER_ELECT', true),
      namespace: env.VISIONOPS_LEADER_ELECTION_NAMESPACE?.trim() || env.POD_NAMESPACE?.trim() || fallbackNamespace,
      name: env.VISIONOPS_LEADER_ELECTION_ID?.trim() || DEFAULT_LEASE_NAME,
      // client-go's hostname_uuid: two processes on one host must not share an identity.
      identity: env.POD_NAME?.trim() || `${os.hostname()}_${randomBytes(6).toString('hex')}`,
      timing,
    },
    logLevel: level,
    registry: registrySettingsFromEnv(env),
  };
}

/** MLFLOW_TRACKING_URI (MLflow's own variable) and VISIONOPS_REGISTRY_*. */
function registrySettingsFromEnv(env: Record<string, string | undefined>): RegistrySettings {
  const d = DEFAULT_REGISTRY_SETTINGS;
  const trackingUri = env.MLFLOW_TRACKING_URI?.trim();
  if (trackingUri && !/^https?:\/\/[^\s/]+/.test(trackingUri)) throw new OperatorConfigError(`MLFLOW_TRACKING_URI=${trackingUri} is not an http(s) tracking server`);
  const jitter = Number(env.VISIONOPS_REGISTRY_POLL_JITTER?.trim() || d.jitter);
  if (!(jitter >= 0 && jitter < 1)) throw new OperatorConfigError(`VISIONOPS_REGISTRY_POLL_JITTER=${env.VISIONOPS_REGISTRY_POLL_JITTER} is not a fraction in [0, 1)`);
  return {
    defaultTrackingUri: trackingUri || undefined,
    pollIntervalMs: positiveNumber(env, 'VISIONOPS_REGISTRY_POLL_SECONDS', d.pollIntervalMs / 1000) * 1000,
    jitter,
    maxBackoffMs: positiveNumber(env, 'VISIONOPS_REGISTRY_MAX_BACKOFF_SECONDS', d.maxBackoffMs / 1000) * 1000,
    requestTimeoutMs: positiveNumber(env, 'VISIONOPS_REGISTRY_TIMEOUT_SECONDS', d.requestTimeoutMs / 1000) * 1000,
  };
}
