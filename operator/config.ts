/**
 * Operator-wide settings that are not part of a ModelService: what the cluster admin chooses when
 * installing the operator (config/manager sets them as env vars).
 */
export interface OperatorConfig {
  /** Server image for ModelServices that leave spec.image out. */
  serverImage: string;
  /** DNS suffix of Services, for status.address. */
  clusterDomain: string;
  /**
   * Largest request body the server accepts. Written into the server config and the Ingress
   * annotation together, so the proxy never refuses what the server would take (or the reverse).
   */
  serverBodyLimitBytes: number;
  /** How long a rollout may make no progress before the Deployment reports ProgressDeadlineExceeded. */
  progressDeadlineSeconds: number;
}

export const DEFAULT_SERVER_IMAGE = 'ghcr.io/visionops/visionops-server:0.1.0';

export const defaultOperatorConfig: OperatorConfig = {
  serverImage: DEFAULT_SERVER_IMAGE,
  clusterDomain: 'cluster.local',
  serverBodyLimitBytes: 20 * 2 ** 20,
  // Generous: a first rollout includes downloading the model, which can be hundreds of MB.
  progressDeadlineSeconds: 600,
};

export class OperatorConfigError extends Error {
  override name = 'OperatorConfigError';
}

function positiveInt(env: Record<string, string | undefined>, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new OperatorConfigError(`${key}=${raw} is not a positive integer`);
  return n;
}

/** Reads VISIONOPS_* variables; anything unset keeps its default. */
export function operatorConfigFromEnv(env: Record<string, string | undefined>): OperatorConfig {
  const image = env.VISIONOPS_SERVER_IMAGE?.trim();
  const domain = env.VISIONOPS_CLUSTER_DOMAIN?.trim();
  return {
    serverImage: image || defaultOperatorConfig.serverImage,
    clusterDomain: domain || defaultOperatorConfig.clusterDomain,
    serverBodyLimitBytes: positiveInt(env, 'VISIONOPS_SERVER_BODY_LIMIT_BYTES', defaultOperatorConfig.serverBodyLimitBytes),
    progressDeadlineSeconds: positiveInt(env, 'VISIONOPS_PROGRESS_DEADLINE_SECONDS', defaultOperatorConfig.progressDeadlineSeconds),
  };
}
