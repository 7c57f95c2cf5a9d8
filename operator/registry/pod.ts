import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { MLFLOW_ENV } from '../../contract/mlflow.js';
import { FETCHED_MODEL_PATH } from '../../contract/pod-layout.js';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import { type RegistryPin, resolvedUri } from './pin.js';

/** Where the fetch init container finds the tracking server's CA bundle. */
export const MLFLOW_CA_DIR = '/etc/visionops-mlflow-ca';
export const MLFLOW_CA_FILE = 'ca.crt';
const CA_VOLUME = 'mlflow-ca';

/** Variables the operator sets on the fetch container; the same names in spec.env give way. */
export const REGISTRY_ENV_NAMES: readonly string[] = [MLFLOW_ENV.trackingUri, MLFLOW_ENV.token, MLFLOW_ENV.username, MLFLOW_ENV.password, 'NODE_EXTRA_CA_CERTS'];

export interface RegistryFetchParts {
  args: string[];
  env: V1EnvVar[];
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
}

/**
 * What the fetch init container needs for a pinned registry version: the version (never the
 * alias) and its hash as arguments, the tracking server as MLflow's variable, the credentials as
 * references to the Secret's keys (the values never appear in the pod spec or the ConfigMap),
 * and the CA bundle as a file Node trusts besides its roots.
 */
export function registryFetchParts(ms: ModelService, pin: RegistryPin): RegistryFetchParts {
  const settings = ms.spec.model.mlflow ?? {};
  const env: V1EnvVar[] = [{ name: MLFLOW_ENV.trackingUri, value: pin.trackingUri }];
  if (settings.credentialsSecret) {
    // Optional keys: a Secret has a token, or a username and password.
    for (const key of [MLFLOW_ENV.token, MLFLOW_ENV.username, MLFLOW_ENV.password]) {
      env.push({ name: key, valueFrom: { secretKeyRef: { name: settings.credentialsSecret, key, optional: true } } });
    }
  }
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (settings.caBundle) {
    volumes.push({ name: CA_VOLUME, configMap: { name: settings.caBundle.configMap, items: [{ key: settings.caBundle.key ?? DEFAULTS.mlflowCaKey, path: MLFLOW_CA_FILE }] } });
    mounts.push({ name: CA_VOLUME, mountPath: MLFLOW_CA_DIR, readOnly: true });
    env.push({ name: 'NODE_EXTRA_CA_CERTS', value: `${MLFLOW_CA_DIR}/${MLFLOW_CA_FILE}` });
  }
  return {
    args: ['fetch', '--uri', resolvedUri(pin), ...(pin.sha256 ? ['--sha256', pin.sha256] : []), '--dest', FETCHED_MODEL_PATH],
    env,
    volumes,
    mounts,
  };
}
