import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type ModelService } from '../../crds/modelservice.js';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';

export const APP_NAME = 'visionops-server';
export const COMPONENT = 'model-server';
export const MANAGED_BY = 'visionops-operator';

/** Label selector the controller's child informers use: everything this operator created. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** Metadata of an object the operator owns: name and namespace are always set. */
export type ChildMeta = V1ObjectMeta & { name: string; namespace: string };

/**
 * The pod selector. Only the two labels that identify one ModelService: a Deployment's selector is
 * immutable, so it must never gain a label later.
 */
export function selectorLabels(ms: ModelService): Record<string, string> {
  return { [LABEL_NAME]: APP_NAME, [LABEL_INSTANCE]: ms.metadata.name };
}

/** status.selector, in the string form the scale subresource and `kubectl get -l` take. */
export function selectorString(ms: ModelService): string {
  return Object.entries(selectorLabels(ms))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function childLabels(ms: ModelService): Record<string, string> {
  return { ...selectorLabels(ms), [LABEL_COMPONENT]: COMPONENT, [LABEL_MANAGED_BY]: MANAGED_BY };
}

/** Makes the ModelService the controller of the child: garbage collection and owner lookups follow it. */
export function ownerReference(ms: ModelService): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: ms.metadata.name, uid: ms.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export function childMeta(ms: ModelService, name = ms.metadata.name): ChildMeta {
  return { name, namespace: ms.metadata.namespace, labels: childLabels(ms), ownerReferences: [ownerReference(ms)] };
}
