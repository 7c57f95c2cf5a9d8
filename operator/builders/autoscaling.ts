import type { V1PodDisruptionBudget, V2HorizontalPodAutoscaler } from '@kubernetes/client-node';
import { DEFAULTS, type ModelService } from '../../crds/modelservice.js';
import { type ChildMeta, childMeta, selectorLabels } from './meta.js';

export type HorizontalPodAutoscalerChild = V2HorizontalPodAutoscaler & {
  apiVersion: 'autoscaling/v2';
  kind: 'HorizontalPodAutoscaler';
  metadata: ChildMeta;
};
export type PodDisruptionBudgetChild = V1PodDisruptionBudget & { apiVersion: 'policy/v1'; kind: 'PodDisruptionBudget'; metadata: ChildMeta };

export function buildHorizontalPodAutoscaler(ms: ModelService): HorizontalPodAutoscalerChild | undefined {
  const a = ms.spec.autoscaling;
  if (!a) return undefined;
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMeta(ms),
    spec: {
      // Targets the Deployment, not the ModelService's scale subresource: the HPA then works
      // even while the operator is down.
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: ms.metadata.name },
      minReplicas: a.minReplicas ?? DEFAULTS.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.targetCPUUtilizationPercentage ?? DEFAULTS.targetCPUUtilizationPercentage } },
        },
      ],
    },
  };
}

/** The fewest replicas the spec keeps running: what decides whether a disruption budget makes sense. */
export function minimumReplicas(ms: ModelService): number {
  const a = ms.spec.autoscaling;
  return a ? (a.minReplicas ?? DEFAULTS.minReplicas) : (ms.spec.replicas ?? 1);
}

/**
 * Lets node drains evict one server pod at a time. With a single replica a budget would either
 * block drains forever (minAvailable 1) or protect nothing, so there is none.
 */
export function buildPodDisruptionBudget(ms: ModelService): PodDisruptionBudgetChild | undefined {
  if (minimumReplicas(ms) <= 1) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMeta(ms),
    spec: { selector: { matchLabels: selectorLabels(ms) }, maxUnavailable: 1 },
  };
}
