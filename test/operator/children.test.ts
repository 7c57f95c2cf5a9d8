import { expect } from 'chai';
import { buildArchiveClaim } from '../../operator/builders/archive-pvc.js';
import { buildHorizontalPodAutoscaler, buildPodDisruptionBudget } from '../../operator/builders/autoscaling.js';
import { buildIngress, nginxBodySize } from '../../operator/builders/ingress.js';
import { buildService } from '../../operator/builders/service.js';
import { config, fullModelService, modelService } from './fixtures.js';

describe('Service, Ingress, PVC, HPA and PDB builders', () => {
  it('Service: ClusterIP port 80 to the named http port of the pods', () => {
    const s = buildService(modelService());
    expect(s.spec).to.deep.equal({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'visionops-server', 'app.kubernetes.io/instance': 'plates' },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    });
  });

  it('Ingress: none without spec.ingress', () => {
    expect(buildIngress(modelService(), config)).to.equal(undefined);
  });

  it('Ingress: routes host and path to the Service, with TLS and the user annotations', () => {
    const ing = buildIngress(fullModelService(), config)!;
    expect(ing.apiVersion).to.equal('networking.k8s.io/v1');
    expect(ing.spec!.ingressClassName).to.equal('nginx');
    expect(ing.spec!.rules).to.deep.equal([
      {
        host: 'plates.example.com',
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'plates', port: { name: 'http' } } } }] },
      },
    ]);
    expect(ing.spec!.tls).to.deep.equal([{ hosts: ['plates.example.com'], secretName: 'plates-tls' }]);
    expect(ing.metadata.annotations).to.include({ 'cert-manager.io/cluster-issuer': 'letsencrypt' });
  });

  it('Ingress: lets nginx pass bodies as large as the server accepts, unless the user says otherwise', () => {
    const ing = buildIngress(modelService({ ingress: { host: 'a.example.com' } }), config)!;
    expect(ing.metadata.annotations).to.deep.equal({ 'nginx.ingress.kubernetes.io/proxy-body-size': '20m' });
    expect(nginxBodySize(20 * 2 ** 20 + 1)).to.equal('21m');
    const mine = buildIngress(modelService({ ingress: { annotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '5m' } } }), config)!;
    expect(mine.metadata.annotations!['nginx.ingress.kubernetes.io/proxy-body-size']).to.equal('5m');
    const traefik = buildIngress(modelService({ ingress: { className: 'traefik', path: '/plates' } }), config)!;
    expect(traefik.metadata.annotations).to.equal(undefined);
    expect(traefik.spec!.rules![0]!).to.not.have.property('host');
    expect(traefik.spec!.rules![0]!.http!.paths[0]!.path).to.equal('/plates');
  });

  it('PVC: named <name>-archive with the requested size and class, only when enabled', () => {
    expect(buildArchiveClaim(modelService())).to.equal(undefined);
    expect(buildArchiveClaim(modelService({ archive: { enabled: false, size: '1Gi' } }))).to.equal(undefined);
    const pvc = buildArchiveClaim(fullModelService())!;
    expect(pvc.metadata.name).to.equal('plates-archive');
    expect(pvc.spec).to.deep.equal({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } }, storageClassName: 'fast' });
  });

  it('HPA: autoscaling/v2 on CPU utilisation, targeting the Deployment', () => {
    expect(buildHorizontalPodAutoscaler(modelService())).to.equal(undefined);
    const hpa = buildHorizontalPodAutoscaler(fullModelService())!;
    expect(hpa.apiVersion).to.equal('autoscaling/v2');
    expect(hpa.spec).to.deep.equal({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'plates' },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    });
    const defaults = buildHorizontalPodAutoscaler(modelService({ autoscaling: { maxReplicas: 3 } }))!;
    expect(defaults.spec).to.deep.include({ minReplicas: 1 });
    expect(defaults.spec!.metrics![0]!.resource!.target.averageUtilization).to.equal(80);
  });

  it('PDB: one pod at a time may be evicted, only when more than one replica is kept', () => {
    expect(buildPodDisruptionBudget(modelService())).to.equal(undefined);
    expect(buildPodDisruptionBudget(modelService({ replicas: 1 }))).to.equal(undefined);
    expect(buildPodDisruptionBudget(modelService({ autoscaling: { maxReplicas: 5 } }))).to.equal(undefined);
    const pdb = buildPodDisruptionBudget(modelService({ replicas: 2 }))!;
    expect(pdb.apiVersion).to.equal('policy/v1');
    expect(pdb.spec).to.deep.equal({ selector: { matchLabels: { 'app.kubernetes.io/name': 'visionops-server', 'app.kubernetes.io/instance': 'plates' } }, maxUnavailable: 1 });
    expect(buildPodDisruptionBudget(modelService({ autoscaling: { minReplicas: 2, maxReplicas: 5 } }))).to.not.equal(undefined);
  });
});
