import { expect } from 'chai';
import { Value } from 'typebox/value';
import { modelServiceSpecSchema } from '../../crds/modelservice.js';
import { CHILD_KINDS, desiredState } from '../../operator/desired-state.js';
import { config, fullModelService, modelService } from './fixtures.js';

describe('desired state', () => {
  it('a minimal ModelService owns a ConfigMap, a Service and a Deployment, and drops the optional children', () => {
    const { apply, delete: del } = desiredState(modelService(), config);
    expect(apply.map((c) => c.kind)).to.deep.equal(['ConfigMap', 'Service', 'Deployment']);
    expect(del.map((r) => r.kind)).to.have.members(['HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress']);
    expect(del.every((r) => r.name === 'plates' && r.namespace === 'vision')).to.equal(true);
  });

  it('a full ModelService owns every kind, the ConfigMap and volume before the Deployment', () => {
    const { apply, delete: del } = desiredState(fullModelService(), config);
    expect(apply.map((c) => c.kind)).to.deep.equal(['ConfigMap', 'PersistentVolumeClaim', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress']);
    expect(del).to.deep.equal([]);
  });

  it('removing spec.ingress turns the Ingress into a deletion', () => {
    const withIngress = modelService({ ingress: { host: 'plates.example.com' } });
    expect(desiredState(withIngress, config).delete.map((r) => r.kind)).to.not.include('Ingress');
    const { ingress: _, ...rest } = withIngress.spec;
    const without = { ...withIngress, spec: rest };
    expect(desiredState(without, config).apply.map((c) => c.kind)).to.not.include('Ingress');
    expect(desiredState(without, config).delete).to.deep.include({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'vision', name: 'plates' });
  });

  it('never deletes the archive volume when the archive is switched off', () => {
    const off = desiredState(modelService({ archive: { enabled: false } }), config);
    expect([...off.apply, ...off.delete].map((c) => c.kind)).to.not.include('PersistentVolumeClaim');
  });

  it('every child is a complete object in the ModelService namespace, controlled by it', () => {
    for (const child of desiredState(fullModelService(), config).apply) {
      expect(child.apiVersion, child.kind).to.be.a('string').and.not.equal('');
      expect(child.metadata.namespace, child.kind).to.equal('vision');
      expect(child.metadata.name, child.kind).to.match(/^plates(-archive)?$/);
      expect(child.metadata.labels, child.kind).to.include({ 'app.kubernetes.io/instance': 'plates', 'app.kubernetes.io/managed-by': 'visionops-operator' });
      expect(child.metadata.ownerReferences, child.kind).to.deep.equal([
        { apiVersion: 'visionops.io/v1alpha1', kind: 'ModelService', name: 'plates', uid: '0b5c6f0e-1111-2222-3333-444455556666', controller: true, blockOwnerDeletion: true },
      ]);
      // Server-side apply payloads: status belongs to the owning controllers.
      expect(child, child.kind).to.not.have.property('status');
    }
  });

  it('is deterministic, so re-applying an unchanged spec changes nothing', () => {
    expect(JSON.stringify(desiredState(fullModelService(), config))).to.equal(JSON.stringify(desiredState(fullModelService(), config)));
  });

  it('treats missing fields exactly as the CRD defaults them', () => {
    for (const ms of [modelService(), fullModelService(), modelService({ ocr: { classes: ['plate'] }, archive: { enabled: true }, ingress: {}, autoscaling: { maxReplicas: 3 } })]) {
      const defaulted = { ...ms, spec: Value.Default(modelServiceSpecSchema, structuredClone(ms.spec)) as typeof ms.spec };
      expect(desiredState(defaulted, config)).to.deep.equal(desiredState(ms, config));
    }
  });

  it('CHILD_KINDS lists every kind the builders produce, so the controller watches them all', () => {
    const produced = new Set(desiredState(fullModelService(), config).apply.map((c) => `${c.apiVersion}/${c.kind}`));
    expect(new Set(CHILD_KINDS.map((k) => `${k.apiVersion}/${k.kind}`))).to.deep.equal(produced);
  });
});
