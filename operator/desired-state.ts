import type { ModelService } from '../crds/modelservice.js';
import { buildArchiveClaim, type PersistentVolumeClaimChild } from './builders/archive-pvc.js';
import {
  buildHorizontalPodAutoscaler,
  buildPodDisruptionBudget,
  type HorizontalPodAutoscalerChild,
  type PodDisruptionBudgetChild,
} from './builders/autoscaling.js';
import { buildDeployment, type DeploymentChild } from './builders/deployment.js';
import { buildIngress, type IngressChild } from './builders/ingress.js';
import { buildConfigMap, configHash, type ConfigMapChild } from './builders/server-config.js';
import { buildService, type ServiceChild } from './builders/service.js';
import type { OperatorConfig } from './config.js';
import type { RegistryPin } from './registry/pin.js';

/** Every object a ModelService may own; `kind` tells them apart. */
export type Child =
  | ConfigMapChild
  | PersistentVolumeClaimChild
  | ServiceChild
  | DeploymentChild
  | HorizontalPodAutoscalerChild
  | PodDisruptionBudgetChild
  | IngressChild;

export type ChildKind = Child['kind'];

/** Identifies a child to delete. */
export interface ChildRef {
  apiVersion: Child['apiVersion'];
  kind: ChildKind;
  namespace: string;
  name: string;
}

export interface DesiredState {
  /** Objects to server-side apply, in this order (the ConfigMap and volume exist before pods need them). */
  apply: Child[];
  /** Optional children whose section is absent from the spec: delete them if they exist. */
  delete: ChildRef[];
}

/**
 * The kinds a ModelService can own, with the API path segment the controller watches them under.
 * The archive PVC is deliberately missing from the deletable ones: images are kept until the
 * ModelService itself is deleted.
 */
export const CHILD_KINDS: readonly { apiVersion: Child['apiVersion']; kind: ChildKind; plural: string; deletedWhenAbsent: boolean }[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', deletedWhenAbsent: false },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', deletedWhenAbsent: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', deletedWhenAbsent: false },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', deletedWhenAbsent: false },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', deletedWhenAbsent: true },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', deletedWhenAbsent: true },
  { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', plural: 'ingresses', deletedWhenAbsent: true },
];

/**
 * Everything a ModelService should own right now. Pure: same input, same output, so the
 * controller can apply it on every reconcile and the apiserver sees no change when there is none.
 * Throws InvalidSpecError for a spec the CRD should have refused. `pin`: the registry version the
 * controller resolved for a models:/ URI.
 */
export function desiredState(ms: ModelService, config: OperatorConfig, pin?: RegistryPin): DesiredState {
  const configMap = buildConfigMap(ms, config, pin);
  const optional = {
    PersistentVolumeClaim: buildArchiveClaim(ms),
    HorizontalPodAutoscaler: buildHorizontalPodAutoscaler(ms),
    PodDisruptionBudget: buildPodDisruptionBudget(ms),
    Ingress: buildIngress(ms, config),
  };
  const apply: Child[] = [configMap];
  if (optional.PersistentVolumeClaim) apply.push(optional.PersistentVolumeClaim);
  apply.push(buildService(ms), buildDeployment(ms, config, configHash(configMap), pin));
  if (optional.HorizontalPodAutoscaler) apply.push(optional.HorizontalPodAutoscaler);
  if (optional.PodDisruptionBudget) apply.push(optional.PodDisruptionBudget);
  if (optional.Ingress) apply.push(optional.Ingress);

  const present = new Set(apply.map((c) => c.kind));
  const del: ChildRef[] = CHILD_KINDS.filter((k) => k.deletedWhenAbsent && !present.has(k.kind)).map((k) => ({
    apiVersion: k.apiVersion,
    kind: k.kind,
    namespace: ms.metadata.namespace,
    name: ms.metadata.name,
  }));
  return { apply, delete: del };
}
