import { versionUri } from '../../contract/mlflow.js';
import type { ModelServiceStatus } from '../../crds/modelservice.js';

/**
 * A registry version as the operator pins it into a Deployment: the pods fetch exactly this
 * version (never the alias), so a pod started later serves the same bytes as its siblings.
 */
export interface RegistryPin {
  /** spec.model.uri it was resolved from, e.g. models:/plates@champion. */
  requestedUri: string;
  name: string;
  version: string;
  alias?: string;
  runId: string;
  /** The version's artifact location (as the registry reports it). */
  source: string;
  /** From the version's onnx_sha256 tag; absent only for allowUnverified. */
  sha256?: string;
  trackingUri: string;
}

/** Pod template annotation with the pin, read back from the live Deployment and from pods. */
export const ANNOTATION_MODEL_REGISTRY = 'visionops.io/model-registry';

export function resolvedUri(pin: Pick<RegistryPin, 'name' | 'version'>): string {
  return versionUri(pin.name, pin.version);
}

/** Stable JSON (fixed key order): the same pin gives the same pod template. sha256 has its own annotation. */
export function pinAnnotation(pin: RegistryPin): string {
  return JSON.stringify({
    requestedUri: pin.requestedUri,
    name: pin.name,
    version: pin.version,
    ...(pin.alias ? { alias: pin.alias } : {}),
    runId: pin.runId,
    source: pin.source,
    trackingUri: pin.trackingUri,
  });
}

/** The pin a pod template (or pod) carries; undefined when it has none or it is unreadable. */
export function pinFromAnnotations(annotations: Record<string, string> | undefined, sha256?: string): RegistryPin | undefined {
  const raw = annotations?.[ANNOTATION_MODEL_REGISTRY];
  if (!raw) return undefined;
  try {
    const p = JSON.parse(raw) as Partial<RegistryPin>;
    if (typeof p.name !== 'string' || typeof p.version !== 'string' || typeof p.trackingUri !== 'string') return undefined;
    return {
      requestedUri: typeof p.requestedUri === 'string' ? p.requestedUri : resolvedUri({ name: p.name, version: p.version }),
      name: p.name,
      version: p.version,
      ...(typeof p.alias === 'string' ? { alias: p.alias } : {}),
      runId: typeof p.runId === 'string' ? p.runId : '',
      source: typeof p.source === 'string' ? p.source : '',
      ...(sha256 ? { sha256 } : {}),
      trackingUri: p.trackingUri,
    };
  } catch {
    return undefined;
  }
}

/** status.model for pods serving this pin. */
export function statusModelOf(pin: RegistryPin): NonNullable<ModelServiceStatus['model']> {
  return {
    uri: pin.requestedUri,
    resolvedUri: resolvedUri(pin),
    version: pin.version,
    ...(pin.alias ? { alias: pin.alias } : {}),
    ...(pin.runId ? { runId: pin.runId } : {}),
    ...(pin.source ? { source: pin.source } : {}),
    ...(pin.sha256 ? { sha256: pin.sha256 } : {}),
  };
}

/** `v6 → v7`, or with the model named when it changed too. */
export function describeChange(from: RegistryPin, to: RegistryPin): string {
  const what = to.alias ? `${to.requestedUri}` : `models:/${to.name}`;
  return from.name === to.name ? `${what}: v${from.version} → v${to.version}` : `${what}: ${resolvedUri(from)} → ${resolvedUri(to)}`;
}
