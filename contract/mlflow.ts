/**
 * What the operator and the fetch init container agree on about the MLflow model registry: the
 * `models:/` URI forms, MLflow's own environment variable names for the tracking server and its
 * credentials, the version tag that carries the ONNX file's hash, and how a version's artifact
 * location maps onto the tracking server's artifact proxy. Pure: no I/O.
 */

/** A registry reference as `spec.model.uri` gives it: `models:/<name>@<alias>` or `models:/<name>/<version>`. */
export type ModelsUri = { name: string; alias: string; version?: undefined } | { name: string; version: string; alias?: undefined };

export const MODELS_SCHEME = 'models:/';

/**
 * Registered model names the operator accepts: MLflow allows more, but a name must survive a URL
 * query, a search filter and a `models:/` URI unquoted, and `/` or `@` would make the URI ambiguous.
 */
export const REGISTERED_MODEL_NAME = '[A-Za-z0-9][A-Za-z0-9_.-]{0,255}';
/** MLflow's own alias rule: word characters and dashes (and not `latest` or `v<digits>`, which MLflow refuses to create). */
export const ALIAS_NAME = '[A-Za-z0-9_-]{1,255}';
export const VERSION_NUMBER = '[1-9][0-9]{0,9}';
/** Both forms, anchored; the CRD's CEL rule uses the same expression. */
export const MODELS_URI_PATTERN = `^models:/${REGISTERED_MODEL_NAME}(@${ALIAS_NAME}|/${VERSION_NUMBER})$`;

const MODELS_URI = new RegExp(`^models:/(${REGISTERED_MODEL_NAME})(?:@(${ALIAS_NAME})|/(${VERSION_NUMBER}))$`);

export function isModelsUri(uri: string): boolean {
  return uri.startsWith(MODELS_SCHEME);
}

/** Parses a `models:/` URI; undefined when it is not one of the two forms. */
export function parseModelsUri(uri: string): ModelsUri | undefined {
  const m = MODELS_URI.exec(uri);
  if (!m) return undefined;
  const [, name, alias, version] = m;
  return alias !== undefined ? { name: name!, alias } : { name: name!, version: version! };
}

/** The pinned form of a version: what the operator writes into the pods, never an alias. */
export function versionUri(name: string, version: string): string {
  return `${MODELS_SCHEME}${name}/${version}`;
}

/** MLflow's environment variable names; the credentials Secret uses them as keys. */
export const MLFLOW_ENV = {
  trackingUri: 'MLFLOW_TRACKING_URI',
  token: 'MLFLOW_TRACKING_TOKEN',
  username: 'MLFLOW_TRACKING_USERNAME',
  password: 'MLFLOW_TRACKING_PASSWORD',
} as const;

/** The model-version tag training/tracking.py sets to the lowercase hex sha256 of the ONNX file. */
export const HASH_TAG = 'onnx_sha256';

/** Model-version tag the operator sets while the version serves a ModelService (value: since when, ISO 8601). */
export function servingTagKey(namespace: string, name: string): string {
  return `visionops.serving/${namespace}.${name}`;
}

/** The REST root of a tracking server. */
export function apiBase(trackingUri: string): string {
  return `${trackingUri.replace(/\/+$/, '')}/api/2.0`;
}

/**
 * The path under the tracking server's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/<path>`)
 * of a version's artifact location, or undefined when the location is not served by the proxy
 * (s3://, gs://, a local path: the tracking server was started without proxied artifacts).
 * Handles both `mlflow-artifacts:/1/<run>/artifacts/model` and `mlflow-artifacts://host:port/...`.
 */
export function artifactProxyPath(artifactUri: string): string | undefined {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(artifactUri);
  if (!m) return undefined;
  const path = m[1]!.replace(/\/+$/, '');
  if (path.split('/').some((s) => s === '..')) return undefined;
  return path;
}
