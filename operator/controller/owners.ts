import type { KubernetesObject } from '@kubernetes/client-node';
import { GROUP, KIND } from '../../crds/modelservice.js';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY } from '../builders/meta.js';

/** Work queue key of a ModelService: "namespace/name", as client-go's MetaNamespaceKeyFunc. */
export function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The ModelService that controls `obj` (its controller ownerReference), as a queue key. */
export function ownerKey(obj: KubernetesObject): string | undefined {
  const ns = obj.metadata?.namespace;
  const ref = obj.metadata?.ownerReferences?.find((r) => r.controller && r.kind === KIND && r.apiVersion.split('/')[0] === GROUP);
  return ns && ref ? keyOf(ns, ref.name) : undefined;
}

/** The ModelService whose server pod this is: pods are owned by ReplicaSets, so go by the instance label. */
export function podOwnerKey(pod: KubernetesObject): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  const ns = pod.metadata?.namespace;
  const instance = labels[LABEL_INSTANCE];
  return ns && instance && labels[LABEL_MANAGED_BY] === MANAGED_BY ? keyOf(ns, instance) : undefined;
}

/** Whether `obj` is controlled by the ModelService with this uid: only those may be deleted. */
export function controlledBy(obj: KubernetesObject, uid: string): boolean {
  return obj.metadata?.ownerReferences?.some((r) => r.controller && r.uid === uid) ?? false;
}
