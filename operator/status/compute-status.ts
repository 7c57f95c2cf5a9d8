import type { V1Deployment, V1Ingress, V1Pod } from '@kubernetes/client-node';
import type { ModelService, ModelServiceStatus } from '../../crds/modelservice.js';
import { minimumReplicas } from '../builders/autoscaling.js';
import { ANNOTATION_MODEL_SHA256, ANNOTATION_MODEL_URI } from '../builders/deployment.js';
import { selectorString } from '../builders/meta.js';
import type { OperatorConfig } from '../config.js';
import { type ConditionInput, mergeConditions, safeReason } from './conditions.js';
import { pinFromAnnotations, type RegistryPin, resolvedUri, statusModelOf } from '../registry/pin.js';
import { clip, diagnosePod, type PodDiagnosis, worstProblem } from './pod-diagnosis.js';

/** What the controller saw in the cluster for one ModelService. */
export interface ObservedState {
  /** The owned Deployment, if it exists. */
  deployment?: V1Deployment;
  /** Pods matching the ModelService's selector. */
  pods: readonly V1Pod[];
  /** The owned Ingress, if it exists. */
  ingress?: V1Ingress;
  /** The last apply/delete failure of this reconcile (quota, admission webhook, immutable field...). */
  reconcileError?: { reason: string; message: string };
  /** For a models:/ URI: the version pinned (if any), the registry's conditions, and why nothing is pinned. */
  registry?: { pin?: RegistryPin; conditions: readonly ConditionInput[]; blocked?: { reason: string; message: string } };
}

type StatusModel = NonNullable<ModelServiceStatus['model']>;

interface LivePod {
  diagnosis: PodDiagnosis;
  /** From the pod template annotations: which model this pod was created to serve. */
  model: { uri: string; sha256?: string; status: StatusModel } | undefined;
}

interface DeploymentFacts {
  exists: boolean;
  desired: number;
  replicas: number;
  ready: number;
  available: number;
  updated: number;
  /** The Deployment controller has not yet acted on the latest template. */
  stale: boolean;
  deadlineExceeded?: string;
  replicaFailure?: { reason: string; message: string };
}

function deploymentFacts(ms: ModelService, d: V1Deployment | undefined): DeploymentFacts {
  const s = d?.status ?? {};
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  const failure = s.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  return {
    exists: d !== undefined,
    // The HPA writes the Deployment's count; without one the spec decides.
    desired: d?.spec?.replicas ?? minimumReplicas(ms),
    replicas: s.replicas ?? 0,
    ready: s.readyReplicas ?? 0,
    available: s.availableReplicas ?? 0,
    updated: s.updatedReplicas ?? 0,
    stale: d !== undefined && (s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0),
    ...(progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded'
      ? { deadlineExceeded: clip(progressing.message ?? 'the rollout made no progress within progressDeadlineSeconds') }
      : {}),
    ...(failure ? { replicaFailure: { reason: safeReason(failure.reason, 'ReplicaFailure'), message: failure.message ?? '' } } : {}),
  };
}

function servedModel(pod: V1Pod): LivePod['model'] {
  const a = pod.metadata?.annotations ?? {};
  const uri = a[ANNOTATION_MODEL_URI];
  if (!uri) return undefined;
  const sha256 = a[ANNOTATION_MODEL_SHA256];
  const pin = pinFromAnnotations(a, sha256);
  const plain = { uri, ...(sha256 ? { sha256 } : {}) };
  return { ...plain, status: pin ? statusModelOf(pin) : plain };
}

function sameModel(a: { uri: string; sha256?: string } | undefined, b: { uri: string; sha256?: string }): boolean {
  return a !== undefined && a.uri === b.uri && (a.sha256 ?? '') === (b.sha256 ?? '');
}

function externalUrl(ms: ModelService, ingress: V1Ingress | undefined): string | undefined {
  const spec = ms.spec.ingress;
  if (!spec || !ingress) return undefined;
  const path = spec.path && spec.path !== '/' ? spec.path : '';
  if (spec.host) return `${spec.tls ? 'https' : 'http'}://${spec.host}${path}`;
  // No host: the address the ingress controller published, once it has.
  const lb = ingress.status?.loadBalancer?.ingress?.[0];
  const where = lb?.hostname || lb?.ip;
  return where ? `http://${where}${path}` : undefined;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The status the ModelService should have, from what is really running. Pure: the controller
 * passes the clock, and writes the result only when statusEqual says it differs from the stored one.
 */
export function computeStatus(ms: ModelService, observed: ObservedState, config: OperatorConfig, now: Date): ModelServiceStatus {
  const generation = ms.metadata.generation;
  const registry = observed.registry;
  const pin = registry?.pin;
  // A registry model is wanted as the pinned version, which is what its pods' annotations name.
  const wanted = pin
    ? { uri: resolvedUri(pin), ...(pin.sha256 ? { sha256: pin.sha256 } : {}) }
    : { uri: ms.spec.model.uri, ...(ms.spec.model.sha256 ? { sha256: ms.spec.model.sha256 } : {}) };
  const wantedStatus: StatusModel = pin ? statusModelOf(pin) : wanted;
  const dep = deploymentFacts(ms, observed.deployment);
  // Pods on their way out (deleted, evicted) say nothing about the present.
  const live: LivePod[] = observed.pods
    .map((p) => ({ diagnosis: diagnosePod(p), model: servedModel(p) }))
    .filter((p) => p.diagnosis.stage !== 'Terminating' && p.diagnosis.stage !== 'Failed');
  const readyModels = live.filter((p) => p.diagnosis.stage === 'Ready').map((p) => p.model);
  const servingWanted = readyModels.filter((m) => sameModel(m, wanted)).length;
  // Pods of the requested model: their trouble is the model's trouble.
  const current = live.filter((p) => sameModel(p.model, wanted)).map((p) => p.diagnosis);
  const worst = worstProblem(live.map((p) => p.diagnosis));
  const worstCurrent = worstProblem(current);

  // --- Degraded: something needs a person's attention.
  let degraded: ConditionInput;
  if (observed.reconcileError) {
    degraded = { type: 'Degraded', status: 'True', reason: safeReason(observed.reconcileError.reason, 'ReconcileFailed'), message: clip(observed.reconcileError.message) };
  } else if (worst) {
    const others = worst.affected > 1 ? ` (${plural(worst.affected, 'pod')} affected)` : '';
    degraded = { type: 'Degraded', status: 'True', reason: worst.problem.reason, message: `pod ${worst.problem.pod}: ${worst.problem.message}${others}` };
  } else if (dep.deadlineExceeded) {
    degraded = { type: 'Degraded', status: 'True', reason: 'ProgressDeadlineExceeded', message: dep.deadlineExceeded };
  } else if (dep.replicaFailure) {
    degraded = { type: 'Degraded', status: 'True', reason: dep.replicaFailure.reason, message: clip(dep.replicaFailure.message) };
  } else {
    degraded = { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no failing pods' };
  }

  // --- Progressing: a rollout (new template) or scale-up is under way.
  const oldPodsRemain = dep.replicas > dep.updated;
  const rolloutPending = !dep.exists || dep.stale || dep.updated < dep.desired || oldPodsRemain;
  let progressing: ConditionInput;
  if (!dep.exists && registry?.blocked) {
    progressing = { type: 'Progressing', status: 'False', reason: registry.blocked.reason, message: `nothing to roll out: ${registry.blocked.message}` };
  } else if (dep.deadlineExceeded) {
    progressing = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: dep.deadlineExceeded };
  } else if (!dep.exists) {
    progressing = { type: 'Progressing', status: 'True', reason: 'DeploymentPending', message: 'the Deployment has not been created yet' };
  } else if (rolloutPending || dep.available < dep.updated) {
    const detail = oldPodsRemain
      ? `${plural(dep.replicas - dep.updated, 'old pod')} still running`
      : `${dep.available} of ${plural(dep.desired, 'updated replica')} available`;
    progressing = { type: 'Progressing', status: 'True', reason: 'RolloutInProgress', message: detail };
  } else {
    progressing = { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: `${plural(dep.desired, 'replica')} up to date` };
  }

  // --- Available: the Deployment's notion, at least the desired count serving (maxUnavailable is 0).
  let available: ConditionInput;
  if (!dep.exists) available = { type: 'Available', status: 'False', reason: 'DeploymentPending', message: 'the Deployment has not been created yet' };
  else if (dep.desired === 0) available = { type: 'Available', status: 'False', reason: 'ScaledToZero', message: 'replicas is 0' };
  else if (dep.available >= dep.desired) {
    available = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: `${dep.available} of ${plural(dep.desired, 'replica')} available` };
  } else {
    available = { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: `${dep.available} of ${plural(dep.desired, 'replica')} available` };
  }

  // --- ModelReady: at least one pod serves the model the spec asks for.
  let modelReady: ConditionInput;
  if (servingWanted > 0) {
    modelReady = { type: 'ModelReady', status: 'True', reason: 'ModelLoaded', message: `${plural(servingWanted, 'pod')} serve ${wanted.uri}` };
  } else if (registry?.blocked) {
    modelReady = { type: 'ModelReady', status: 'False', reason: registry.blocked.reason, message: registry.blocked.message };
  } else if (worstCurrent) {
    modelReady = { type: 'ModelReady', status: 'False', reason: worstCurrent.problem.reason, message: `pod ${worstCurrent.problem.pod}: ${worstCurrent.problem.message}` };
  } else if (dep.exists && dep.desired === 0) {
    modelReady = { type: 'ModelReady', status: 'False', reason: 'ScaledToZero', message: 'no pod runs: replicas is 0' };
  } else if (current.some((d) => d.stage === 'FetchingModel')) {
    modelReady = { type: 'ModelReady', status: 'False', reason: 'ModelFetching', message: `downloading ${wanted.uri}` };
  } else if (current.some((d) => d.stage === 'Starting')) {
    modelReady = { type: 'ModelReady', status: 'False', reason: 'ModelLoading', message: 'the server is loading and warming up the model' };
  } else {
    modelReady = { type: 'ModelReady', status: 'False', reason: 'PodsPending', message: `no pod with ${wanted.uri} has started yet` };
  }

  // --- Ready: the requested model is served, the rollout is done and nothing is failing.
  let ready: ConditionInput;
  if (modelReady.status === 'True' && !rolloutPending && degraded.status === 'False') {
    ready = { type: 'Ready', status: 'True', reason: 'ModelServing', message: `serving ${wanted.uri}` };
  } else if (degraded.status === 'True') {
    ready = { type: 'Ready', status: 'False', reason: degraded.reason, message: degraded.message };
  } else if (modelReady.status !== 'True') {
    ready = { type: 'Ready', status: 'False', reason: modelReady.reason, message: modelReady.message };
  } else {
    ready = { type: 'Ready', status: 'False', reason: progressing.reason, message: progressing.message };
  }

  // The model actually answering requests: during a rollout that may still be the previous one.
  const serving = servingWanted > 0 ? wantedStatus : readyModels.find((m) => m !== undefined)?.status;
  const url = externalUrl(ms, observed.ingress);

  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas: dep.replicas,
    readyReplicas: dep.ready,
    selector: selectorString(ms),
    ...(url ? { url } : {}),
    address: `http://${ms.metadata.name}.${ms.metadata.namespace}.svc.${config.clusterDomain}`,
    ...(serving ? { model: serving } : {}),
    conditions: mergeConditions(ms.status?.conditions, [ready, modelReady, available, progressing, degraded, ...(registry?.conditions ?? [])], generation, now),
  };
}
