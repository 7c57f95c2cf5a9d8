import type { KubernetesObject } from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  ANNOTATION_APPLIED_HASH,
  CACHE_LAG_WINDOW_MS,
  decideApply,
  FIELD_MANAGER,
  managerOwns,
  project,
  projectionHash,
  replicasHandover,
  subsetEqual,
  trimDeploymentForCache,
  trimPodForCache,
  withAppliedHash,
} from '../../operator/controller/child-sync.js';
import { applyPhases } from '../../operator/controller/reconciler.js';
import { desiredState } from '../../operator/desired-state.js';
import { config, modelService } from './fixtures.js';

/** What the API server would return: our object plus defaults, status and bookkeeping; no apiVersion/kind as in a list. */
function asStored<T extends object>(obj: T, extra: (o: Record<string, any>) => void = () => undefined): KubernetesObject { // eslint-disable-line @typescript-eslint/no-explicit-any
  const copy = structuredClone(obj) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  delete copy.apiVersion;
  delete copy.kind;
  copy.metadata.uid = 'u-1';
  copy.metadata.resourceVersion = '42';
  extra(copy);
  return copy as KubernetesObject;
}

function deploymentOf(ms = modelService()) {
  const d = desiredState(ms, config).apply.find((c) => c.kind === 'Deployment');
  if (!d) throw new Error('no Deployment');
  return withAppliedHash(d);
}

const NOW = 1_000_000;

describe('deciding whether a child needs an apply', () => {
  it('stamps the hash of the applied content, which changes with the spec', () => {
    const a = deploymentOf();
    const b = deploymentOf(modelService({ replicas: 2 }));
    expect(a.object.metadata.annotations?.[ANNOTATION_APPLIED_HASH]).to.equal(a.hash).and.match(/^[0-9a-f]{16}$/);
    expect(b.hash).to.not.equal(a.hash);
    expect(deploymentOf().hash, 'deterministic').to.equal(a.hash);
  });

  it('applies what is missing, and what carries an older hash', () => {
    const { object, hash } = deploymentOf();
    expect(decideApply(object, hash, undefined, undefined, NOW)).to.deep.equal({ apply: true, why: 'missing' });
    const old = asStored(deploymentOf(modelService({ replicas: 2 })).object);
    expect(decideApply(object, hash, old, undefined, NOW)).to.deep.equal({ apply: true, why: 'changed' });
  });

  it('leaves alone a child the server stored with extra defaults and status', () => {
    const { object, hash } = deploymentOf();
    const live = asStored(object, (o) => {
      o.spec.revisionHistoryLimit = 10;
      o.spec.template.spec.dnsPolicy = 'ClusterFirst';
      o.spec.template.spec.containers[0].imagePullPolicy = 'IfNotPresent';
      o.status = { replicas: 1, readyReplicas: 1 };
    });
    expect(decideApply(object, hash, live, undefined, NOW)).to.deep.equal({ apply: false, why: 'in-sync' });
  });

  it('notices someone else changing a field the operator sets', () => {
    const { object, hash } = deploymentOf();
    const edited = asStored(object, (o) => (o.spec.template.spec.containers[0].image = 'someone/else:1'));
    expect(decideApply(object, hash, edited, undefined, NOW)).to.deep.equal({ apply: true, why: 'drifted' });
    const scaled = asStored(object, (o) => (o.spec.replicas = 5));
    expect(decideApply(object, hash, scaled, undefined, NOW)).to.deep.equal({ apply: true, why: 'drifted' });
  });

  it('compares against what the server returned after the last apply, so normalised values are not drift', () => {
    const { object, hash } = deploymentOf(modelService({ resources: { requests: { cpu: '0.5', memory: '1Gi' } } }));
    // The API server canonicalises 0.5 CPU to 500m: an exact comparison sees a difference forever.
    const stored = asStored(object, (o) => (o.spec.template.spec.containers[0].resources.requests.cpu = '500m'));
    expect(subsetEqual(object, stored)).to.equal(false);
    const memo = { hash, projection: projectionHash(stored, object), atMs: NOW };
    expect(decideApply(object, hash, stored, memo, NOW + 1)).to.deep.equal({ apply: false, why: 'in-sync' });
    const edited = asStored(object, (o) => (o.spec.template.spec.containers[0].resources.requests.cpu = '2'));
    expect(decideApply(object, hash, edited, memo, NOW + 1)).to.deep.equal({ apply: true, why: 'drifted' });
  });

  it('does not write again while the cache has not caught up with its own write, but not forever', () => {
    const { object, hash } = deploymentOf();
    const memo = { hash, projection: projectionHash(asStored(object), object), atMs: NOW };
    const older = asStored(deploymentOf(modelService({ replicas: 2 })).object);
    expect(decideApply(object, hash, undefined, memo, NOW + 10)).to.deep.equal({ apply: false, why: 'awaiting-cache' });
    expect(decideApply(object, hash, older, memo, NOW + 10)).to.deep.equal({ apply: false, why: 'awaiting-cache' });
    expect(decideApply(object, hash, undefined, memo, NOW + CACHE_LAG_WINDOW_MS)).to.deep.equal({ apply: true, why: 'missing' });
    expect(decideApply(object, hash, older, memo, NOW + CACHE_LAG_WINDOW_MS)).to.deep.equal({ apply: true, why: 'changed' });
  });

  it('projects lists item by item and keeps items someone else added', () => {
    expect(project({ a: [{ x: 1, y: 2 }, { x: 3 }], b: 'extra' }, { a: [{ x: 0 }] })).to.deep.equal({ a: [{ x: 1 }, { x: 3 }] });
    expect(project(undefined, { a: 1 })).to.equal(undefined);
    expect(project('scalar', { a: 1 })).to.equal('scalar');
  });
});

describe('handing spec.replicas over to an HPA', () => {
  const owned = [
    { manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } } },
    { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:status': {} } },
  ];

  it('reads ownership from managedFields', () => {
    expect(managerOwns(owned, FIELD_MANAGER, ['spec', 'replicas'])).to.equal(true);
    expect(managerOwns(owned, FIELD_MANAGER, ['spec', 'paused'])).to.equal(false);
    expect(managerOwns(owned, 'kube-controller-manager', ['status'])).to.equal(false);
  });

  it('hands over the current count only when the operator owns it and stops setting it', () => {
    const autoscaled = deploymentOf(modelService({ autoscaling: { minReplicas: 2, maxReplicas: 5 } })).object;
    const live = asStored(deploymentOf(modelService({ replicas: 3 })).object, (o) => (o.metadata.managedFields = owned));
    expect(replicasHandover(autoscaled, live)).to.deep.equal({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'plates', namespace: 'vision' }, spec: { replicas: 3 },
    });
    expect(replicasHandover(deploymentOf(modelService({ replicas: 3 })).object, live), 'still set').to.equal(undefined);
    const handedOver = asStored(live, (o) => (o.metadata.managedFields = [owned[1]]));
    expect(replicasHandover(autoscaled, handedOver), 'already handed over').to.equal(undefined);
    expect(replicasHandover(autoscaled, undefined)).to.equal(undefined);
  });

  it('the cached Deployment keeps only whether the operator owns spec.replicas, and the handover still works from it', () => {
    const autoscaled = deploymentOf(modelService({ autoscaling: { minReplicas: 2, maxReplicas: 5 } })).object;
    const live = asStored(deploymentOf(modelService({ replicas: 3 })).object, (o) => (o.metadata.managedFields = owned));
    trimDeploymentForCache(live);
    expect(live.metadata?.managedFields).to.deep.equal([{ manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }]);
    expect(replicasHandover(autoscaled, live)).to.not.equal(undefined);
    const notOwned = asStored(deploymentOf().object, (o) => (o.metadata.managedFields = [owned[1]]));
    trimDeploymentForCache(notOwned);
    expect(notOwned.metadata).to.not.have.property('managedFields');
  });

  it('the cached Pod keeps metadata and status, which is all the status calculation reads', () => {
    const pod = { metadata: { name: 'p', labels: { a: 'b' }, managedFields: owned }, spec: { containers: [] }, status: { phase: 'Running' } };
    trimPodForCache(pod);
    expect(pod).to.deep.equal({ metadata: { name: 'p', labels: { a: 'b' } }, status: { phase: 'Running' } });
  });
});

describe('apply rounds', () => {
  it('applies what pods mount and the Service before the Deployment, and what refers to it after', () => {
    const full = desiredState(
      modelService({ autoscaling: { minReplicas: 2, maxReplicas: 4 }, ingress: { host: 'a.example.com' }, archive: { enabled: true } }),
      config,
    ).apply;
    expect(applyPhases(full).map((p) => p.map((c) => c.kind))).to.deep.equal([
      ['ConfigMap', 'PersistentVolumeClaim', 'Service'],
      ['Deployment'],
      ['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress'],
    ]);
    expect(applyPhases(desiredState(modelService(), config).apply).map((p) => p.map((c) => c.kind))).to.deep.equal([['ConfigMap', 'Service'], ['Deployment']]);
  });
});
