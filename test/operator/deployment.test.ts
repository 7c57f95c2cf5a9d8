import type { V1Container } from '@kubernetes/client-node';
import { expect } from 'chai';
import { SHARED_DEFAULTS } from '../../contract/defaults.js';
import { buildDeployment } from '../../operator/builders/deployment.js';
import { buildServerConfig } from '../../operator/builders/server-config.js';
import { SHA, config, fullModelService, modelService } from './fixtures.js';

const HASH = '0123456789abcdef';

function server(containers: V1Container[] | undefined): V1Container {
  const c = containers?.find((x) => x.name === 'server');
  if (!c) throw new Error('no server container');
  return c;
}

describe('Deployment builder', () => {
  it('downloads an http(s) model in a fetch-model init container into a shared emptyDir', () => {
    const d = buildDeployment(modelService(), config, HASH);
    const pod = d.spec!.template.spec!;
    expect(pod.initContainers).to.have.length(1);
    const fetch = pod.initContainers![0]!;
    expect(fetch.name).to.equal('fetch-model');
    expect(fetch.image).to.equal(config.serverImage);
    expect(fetch.args).to.deep.equal(['fetch', '--uri', 'https://models.example.com/plates.onnx', '--sha256', SHA, '--dest', '/models/model.onnx']);
    expect(fetch.terminationMessagePolicy).to.equal('FallbackToLogsOnError');
    expect(fetch.volumeMounts).to.deep.include({ name: 'model', mountPath: '/models' });
    expect(pod.volumes).to.deep.include({ name: 'model', emptyDir: {} });
    expect(server(pod.containers).volumeMounts).to.deep.include({ name: 'model', mountPath: '/models', readOnly: true });
  });

  it('leaves --sha256 out when the spec has none', () => {
    const d = buildDeployment(modelService({ model: { uri: 'https://models.example.com/m.onnx' } }), config, HASH);
    expect(d.spec!.template.spec!.initContainers![0]!.args).to.deep.equal(['fetch', '--uri', 'https://models.example.com/m.onnx', '--dest', '/models/model.onnx']);
  });

  it('mounts the claim read-only for a pvc:// model, with no init container', () => {
    const d = buildDeployment(modelService({ model: { uri: 'pvc://model-store/yolo/plates.onnx' } }), config, HASH);
    const pod = d.spec!.template.spec!;
    expect(pod.initContainers).to.equal(undefined);
    expect(pod.volumes).to.deep.include({ name: 'model', persistentVolumeClaim: { claimName: 'model-store', readOnly: true } });
    expect(server(pod.containers).volumeMounts).to.deep.include({ name: 'model', mountPath: '/models', readOnly: true });
  });

  it('needs neither init container nor model volume content for a bundled:// model', () => {
    const pod = buildDeployment(modelService({ model: { uri: 'bundled://plate-detector' } }), config, HASH).spec!.template.spec!;
    expect(pod.initContainers).to.equal(undefined);
    expect(pod.volumes).to.deep.include({ name: 'model', emptyDir: {} });
  });

  it('runs the server with the mounted config, a named http port and health probes on a port of their own', () => {
    const c = server(buildDeployment(modelService(), config, HASH).spec!.template.spec!.containers);
    expect(c.args).to.deep.equal(['serve', '--config', '/etc/visionops/config.yaml']);
    expect(c.ports).to.deep.equal([{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    // The server's config puts the probes' listener on that port, apart from the API's.
    const serverConfig = buildServerConfig(modelService(), config).server!;
    expect([serverConfig.port, serverConfig.healthPort]).to.deep.equal([8080, 8081]);
    expect(c.readinessProbe?.httpGet).to.deep.equal({ path: '/readyz', port: 'health' });
    expect(c.livenessProbe?.httpGet).to.deep.equal({ path: '/healthz', port: 'health' });
    // Liveness must not kill a pod that is still warming up.
    expect(c.livenessProbe!.initialDelaySeconds! + c.livenessProbe!.periodSeconds! * c.livenessProbe!.failureThreshold!).to.be.at.least(30);
    expect(c.volumeMounts).to.deep.include({ name: 'config', mountPath: '/etc/visionops', readOnly: true });
    expect(c.volumeMounts).to.deep.include({ name: 'tmp', mountPath: '/tmp' });
  });

  it('stops the server gracefully: preStop sleep for endpoint propagation, a grace period covering it, the drain delay and the drain', () => {
    const pod = buildDeployment(modelService(), config, HASH).spec!.template.spec!;
    const c = server(pod.containers);
    // The native sleep action: no shell or sleep binary needed in the (distroless-style) image.
    expect(c.lifecycle).to.deep.equal({ preStop: { sleep: { seconds: 10 } } });
    const serverConfig = buildServerConfig(modelService(), config).server!;
    expect(serverConfig.drainDelayMs).to.equal(2000);
    // In-flight requests may run to their deadline (the server's default requestTimeoutMs).
    expect(serverConfig.shutdownTimeoutMs).to.be.at.least(SHARED_DEFAULTS.server.requestTimeoutMs);
    const needed = 10 + (serverConfig.drainDelayMs! + serverConfig.shutdownTimeoutMs!) / 1000;
    expect(pod.terminationGracePeriodSeconds).to.be.at.least(needed + 3);
  });

  it('runs every container under the restricted Pod Security Standard', () => {
    const pod = buildDeployment(modelService(), config, HASH).spec!.template.spec!;
    expect(pod.securityContext).to.deep.include({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext!.runAsUser).to.be.above(0);
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      expect(c.securityContext, c.name).to.deep.include({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(pod.automountServiceAccountToken).to.equal(false);
  });

  it('rolls without losing capacity and labels the pods for the selector', () => {
    const d = buildDeployment(modelService({ replicas: 3 }), config, HASH);
    expect(d.spec!.replicas).to.equal(3);
    expect(d.spec!.strategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(d.spec!.progressDeadlineSeconds).to.equal(config.progressDeadlineSeconds);
    expect(d.spec!.selector.matchLabels).to.deep.equal({ 'app.kubernetes.io/name': 'visionops-server', 'app.kubernetes.io/instance': 'plates' });
    expect(d.spec!.template.metadata!.labels).to.deep.include(d.spec!.selector.matchLabels);
    expect(d.spec!.template.metadata!.labels).to.include({ 'app.kubernetes.io/managed-by': 'visionops-operator', 'app.kubernetes.io/component': 'model-server' });
  });

  it('defaults to one replica, and has no replicas field when an HPA owns scaling', () => {
    expect(buildDeployment(modelService(), config, HASH).spec!.replicas).to.equal(1);
    expect(buildDeployment(modelService({ replicas: 0 }), config, HASH).spec!.replicas).to.equal(0);
    const hpa = buildDeployment(modelService({ autoscaling: { maxReplicas: 4 } }), config, HASH);
    expect(hpa.spec).to.not.have.property('replicas');
  });

  it('puts the config hash and the model on the pod template, so changing either rolls the pods', () => {
    const a = buildDeployment(modelService(), config, HASH).spec!.template.metadata!.annotations!;
    expect(a).to.include({ 'visionops.io/config-hash': HASH, 'visionops.io/model-uri': 'https://models.example.com/plates.onnx', 'visionops.io/model-sha256': SHA });
    const b = buildDeployment(modelService(), config, 'ffffffffffffffff').spec!.template;
    expect(b.metadata!.annotations!['visionops.io/config-hash']).to.equal('ffffffffffffffff');
  });

  it('passes scheduling, identity, env and annotations through to the pods', () => {
    const ms = fullModelService();
    const pod = buildDeployment(ms, config, HASH).spec!.template;
    expect(pod.spec!.serviceAccountName).to.equal('plates-reader');
    expect(pod.spec!.nodeSelector).to.deep.equal(ms.spec.nodeSelector);
    expect(pod.spec!.tolerations).to.deep.equal(ms.spec.tolerations);
    expect(pod.spec!.affinity).to.deep.equal(ms.spec.affinity);
    expect(pod.spec!.imagePullSecrets).to.deep.equal([{ name: 'regcred' }]);
    expect(pod.metadata!.annotations).to.include({ 'prometheus.io/scrape': 'true' });
    // Proxy settings matter most to the download, so the init container gets the env too.
    for (const c of [...pod.spec!.initContainers!, ...pod.spec!.containers]) expect(c.env, c.name).to.deep.equal(ms.spec.env);
  });

  it('uses spec.image over the operator default, for the fetch step too', () => {
    const pod = buildDeployment(modelService({ image: 'mine/server:2' }), config, HASH).spec!.template.spec!;
    expect(pod.initContainers![0]!.image).to.equal('mine/server:2');
    expect(server(pod.containers).image).to.equal('mine/server:2');
  });

  it('gives the server requested resources, or the CRD defaults', () => {
    const c = server(buildDeployment(modelService({ resources: { requests: { cpu: 2, memory: '3Gi' } } }), config, HASH).spec!.template.spec!.containers);
    expect(c.resources).to.deep.equal({ requests: { cpu: '2', memory: '3Gi' } });
    const d = server(buildDeployment(modelService(), config, HASH).spec!.template.spec!.containers);
    expect(d.resources).to.deep.equal({ requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } });
  });

  it('mounts the archive claim writable at /archive only when the archive is enabled', () => {
    const on = buildDeployment(modelService({ archive: { enabled: true } }), config, HASH).spec!.template.spec!;
    expect(on.volumes).to.deep.include({ name: 'archive', persistentVolumeClaim: { claimName: 'plates-archive' } });
    expect(server(on.containers).volumeMounts).to.deep.include({ name: 'archive', mountPath: '/archive' });
    expect(on.securityContext!.fsGroup).to.equal(on.securityContext!.runAsUser);
    const off = buildDeployment(modelService({ archive: { enabled: false } }), config, HASH).spec!.template.spec!;
    expect(off.volumes!.map((v) => v.name)).to.not.include('archive');
  });
});
