import { HASH_TAG, type ModelsUri } from '../../contract/mlflow.js';
import type { ModelService } from '../../crds/modelservice.js';
import type { ConditionInput } from '../status/conditions.js';
import type { ModelVersionInfo, RegistryErrorKind } from './client.js';
import { type RegistryPin, resolvedUri } from './pin.js';

/** What asking the registry gave for one ModelService. */
export type Resolution =
  | { ok: true; version: ModelVersionInfo; trackingUri: string }
  | { ok: false; kind: RegistryErrorKind | 'Config'; message: string };

export interface PinDecision {
  /** The version to build the Deployment with; absent: build nothing (nothing serves yet and nothing can). */
  pin?: RegistryPin;
  /** ModelResolved and RegistryReachable. */
  conditions: ConditionInput[];
  /** Why no pin: ModelReady (and Ready) say this instead of waiting for pods. */
  blocked?: { reason: string; message: string };
}

/** Condition reasons, as the README's troubleshooting table lists them. */
export const REASONS = {
  resolved: 'Resolved',
  reachable: 'Reachable',
  notFound: 'ModelNotFound',
  hashMissing: 'ModelHashMissing',
  notReady: 'ModelVersionNotReady',
  unreachable: 'RegistryUnreachable',
  unauthorized: 'Unauthorized',
  refused: 'RegistryError',
  notConfigured: 'RegistryNotConfigured',
} as const;

const HEX64 = /^[0-9a-f]{64}$/;

function describeRef(ref: ModelsUri): string {
  return ref.alias !== undefined ? `alias ${ref.alias} of ${ref.name}` : `version ${ref.version} of ${ref.name}`;
}

/** A usable version, or why it cannot be served. */
function usable(ms: ModelService, ref: ModelsUri, r: Extract<Resolution, { ok: true }>): { pin: RegistryPin } | { reason: string; message: string } {
  const v = r.version;
  if (v.status !== 'READY') {
    return { reason: REASONS.notReady, message: `${resolvedUri(v)} is ${v.status}, not READY: its registration has not finished or failed` };
  }
  const tag = v.tags[HASH_TAG]?.trim().toLowerCase();
  const allow = ms.spec.model.mlflow?.allowUnverified === true;
  if (!tag || !HEX64.test(tag)) {
    if (!allow) {
      const what = tag ? `has ${HASH_TAG}=${JSON.stringify(v.tags[HASH_TAG]!.slice(0, 80))}, which is not a lowercase hex sha256` : `has no ${HASH_TAG} tag`;
      return {
        reason: REASONS.hashMissing,
        message:
          `${resolvedUri(v)} ${what}: nothing would prove the pods load the registered file. Tag the version with the .onnx file's sha256 ` +
          '(training/tracking.py does), or set spec.model.mlflow.allowUnverified: true to serve it unchecked',
      };
    }
  }
  return {
    pin: {
      requestedUri: ms.spec.model.uri,
      name: v.name,
      version: v.version,
      ...(ref.alias !== undefined ? { alias: ref.alias } : {}),
      runId: v.runId,
      source: v.source,
      ...(tag && HEX64.test(tag) ? { sha256: tag } : {}),
      trackingUri: r.trackingUri,
    },
  };
}

function failureReason(kind: Exclude<Resolution, { ok: true }>['kind']): string {
  switch (kind) {
    case 'NotFound':
      return REASONS.notFound;
    case 'Unauthorized':
      return REASONS.unauthorized;
    case 'Unreachable':
      return REASONS.unreachable;
    case 'Config':
      return REASONS.notConfigured;
    default:
      return REASONS.refused;
  }
}

/**
 * Which version the Deployment gets, given what the registry said and what is live. Failures
 * never take down what serves: with any problem, a live pin stays, and the conditions say why
 * it was not replaced. Only a ModelService with nothing live is held back (`blocked`).
 */
export function decidePin(ms: ModelService, ref: ModelsUri, r: Resolution, live: RegistryPin | undefined): PinDecision {
  const what = describeRef(ref);
  let reachable: ConditionInput;
  let problem: { reason: string; message: string } | undefined;
  let pin: RegistryPin | undefined;
  if (r.ok) {
    reachable = { type: 'RegistryReachable', status: 'True', reason: REASONS.reachable, message: `${r.trackingUri} answered` };
    const u = usable(ms, ref, r);
    if ('pin' in u) pin = u.pin;
    else problem = u;
  } else {
    const reason = failureReason(r.kind);
    problem = { reason, message: r.kind === 'NotFound' ? `${what} not found in the registry: ${r.message}` : r.message };
    reachable =
      r.kind === 'NotFound'
        ? { type: 'RegistryReachable', status: 'True', reason: REASONS.reachable, message: 'the registry answered' }
        : r.kind === 'Config'
          ? { type: 'RegistryReachable', status: 'Unknown', reason, message: r.message }
          : { type: 'RegistryReachable', status: 'False', reason, message: r.message };
  }

  if (pin) {
    const unchecked = pin.sha256 ? '' : ` (unverified: no ${HASH_TAG} tag, allowUnverified is set)`;
    const via = ref.alias !== undefined ? `${ms.spec.model.uri} → version ${pin.version}` : `${resolvedUri(pin)}`;
    return {
      pin,
      conditions: [{ type: 'ModelResolved', status: 'True', reason: REASONS.resolved, message: `${via}, run ${pin.runId || '(none)'}${unchecked}` }, reachable],
    };
  }
  const p = problem!;
  const resolved: ConditionInput = {
    type: 'ModelResolved',
    status: r.ok || r.kind === 'NotFound' ? 'False' : 'Unknown',
    reason: p.reason,
    message: live ? `${p.message}; still serving ${resolvedUri(live)}` : p.message,
  };
  if (live) return { pin: live, conditions: [resolved, reachable] };
  return { conditions: [resolved, reachable], blocked: p };
}
