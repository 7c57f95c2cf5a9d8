/**
 * The registry pieces that are pure functions: URI forms, which version gets pinned (and what the
 * conditions say), the pods and config built for a pinned version, and the status read back from
 * pods. The behaviour against a real MLflow server is in registry.integration.test.ts.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import { artifactProxyPath, parseModelsUri } from '../../contract/mlflow.js';
import type { ModelService } from '../../crds/modelservice.js';
import { buildDeployment } from '../../operator/builders/deployment.js';
import { buildServerConfig } from '../../operator/builders/server-config.js';
import { desiredState } from '../../operator/desired-state.js';
import type { ModelVersionInfo } from '../../operator/registry/client.js';
import { classify } from '../../operator/registry/client.js';
import { decidePin, type Resolution } from '../../operator/registry/decide.js';
import { describeChange, pinFromAnnotations, type RegistryPin } from '../../operator/registry/pin.js';
import { computeStatus } from '../../operator/status/compute-status.js';
import { config, modelService, readyPod, rolledOut } from './fixtures.js';

const SHA1 = '1'.repeat(64);
const SHA2 = '2'.repeat(64);
const TRACKING = 'http://mlflow.mlops:5000';

function version(v: string, tags: Record<string, string> = { onnx_sha256: v === '7' ? SHA2 : SHA1 }, status = 'READY'): ModelVersionInfo {
  return { name: 'plates', version: v, runId: `run${v}`, source: `mlflow-artifacts:/1/run${v}/artifacts/model`, status, tags };
}

const ok = (v: ModelVersionInfo): Resolution => ({ ok: true, version: v, trackingUri: TRACKING });

function registryMs(uri = 'models:/plates@champion', mlflow: NonNullable<ModelService['spec']['model']['mlflow']> = {}): ModelService {
  return modelService({ model: { uri, mlflow } });
}

function pinned(ms: ModelService, v: ModelVersionInfo): RegistryPin {
  const d = decidePin(ms, parseModelsUri(ms.spec.model.uri)!, ok(v), undefined);
  if (!d.pin) throw new Error(`not pinned: ${JSON.stringify(d)}`);
  return d.pin;
}

function fetchContainer(c: V1Container[] | undefined): V1Container {
  const f = c?.find((x) => x.name === 'fetch-model');
  if (!f) throw new Error('no fetch-model init container');
  return f;
}

describe('registry URIs (contract/mlflow.ts)', () => {
  it('reads the alias and version forms and nothing else', () => {
    expect(parseModelsUri('models:/plate-detector@champion')).to.deep.equal({ name: 'plate-detector', alias: 'champion' });
    expect(parseModelsUri('models:/plates.v2/17')).to.deep.equal({ name: 'plates.v2', version: '17' });
    for (const bad of ['models:/plates/Production', 'models:/plates/0', 'models:/a/b@c', 'models:/plates@', 'models:/@x', 'models:plates/1', 'https://x/y']) {
      expect(parseModelsUri(bad), bad).to.equal(undefined);
    }
  });

  it('maps proxied artifact locations onto the artifact proxy and refuses the others', () => {
    expect(artifactProxyPath('mlflow-artifacts:/1/abc/artifacts/model')).to.equal('1/abc/artifacts/model');
    expect(artifactProxyPath('mlflow-artifacts://mlflow:5000/1/abc/artifacts/model/')).to.equal('1/abc/artifacts/model');
    expect(artifactProxyPath('s3://bucket/1/abc/artifacts/model')).to.equal(undefined);
    expect(artifactProxyPath('/mlruns/1/abc/artifacts/model')).to.equal(undefined);
    expect(artifactProxyPath('mlflow-artifacts:/1/../../etc')).to.equal(undefined);
  });

  it('classifies registry answers into what the conditions name', () => {
    expect(classify(401, '', 'x').kind).to.equal('Unauthorized');
    expect(classify(403, '{"error_code":"PERMISSION_DENIED","message":"no"}', 'x').kind).to.equal('Unauthorized');
    expect(classify(404, '{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"gone"}', 'x').kind).to.equal('NotFound');
    expect(classify(404, '<html>not here</html>', 'x').kind).to.equal('Refused');
    expect(classify(503, 'bad gateway', 'x').kind).to.equal('Unreachable');
    expect(classify(400, '{"error_code":"INVALID_PARAMETER_VALUE","message":"bad"}', 'x').message).to.include('INVALID_PARAMETER_VALUE: bad');
  });
});

describe('pinning a registry version (operator/registry/decide.ts)', () => {
  it('pins the version an alias points at, with its run, source and hash tag', () => {
    const ms = registryMs();
    const d = decidePin(ms, parseModelsUri(ms.spec.model.uri)!, ok(version('6')), undefined);
    expect(d.pin).to.deep.equal({
      requestedUri: 'models:/plates@champion',
      name: 'plates',
      version: '6',
      alias: 'champion',
      runId: 'run6',
      source: 'mlflow-artifacts:/1/run6/artifacts/model',
      sha256: SHA1,
      trackingUri: TRACKING,
    });
    expect(d.blocked).to.equal(undefined);
    expect(d.conditions.map((c) => `${c.type} ${c.status} ${c.reason}`)).to.deep.equal(['ModelResolved True Resolved', 'RegistryReachable True Reachable']);
    expect(d.conditions[0]!.message).to.equal('models:/plates@champion → version 6, run run6');
  });

  it('refuses a version without a usable onnx_sha256 tag unless allowUnverified, saying what is missing', () => {
    const ms = registryMs('models:/plates/6');
    const ref = parseModelsUri(ms.spec.model.uri)!;
    const missing = decidePin(ms, ref, ok(version('6', {})), undefined);
    expect(missing.pin).to.equal(undefined);
    expect(missing.blocked?.reason).to.equal('ModelHashMissing');
    expect(missing.blocked?.message).to.include('models:/plates/6 has no onnx_sha256 tag').and.include('allowUnverified');
    const garbage = decidePin(ms, ref, ok(version('6', { onnx_sha256: 'md5:abc' })), undefined);
    expect(garbage.blocked?.message).to.include('is not a lowercase hex sha256');

    const allowed = registryMs('models:/plates/6', { allowUnverified: true });
    const d = decidePin(allowed, ref, ok(version('6', {})), undefined);
    expect(d.pin?.version).to.equal('6');
    expect(d.pin).to.not.have.property('sha256');
    expect(d.conditions[0]!.message).to.include('unverified');
  });

  it('keeps what is live through every failure, and says why in ModelResolved and RegistryReachable', () => {
    const ms = registryMs();
    const ref = parseModelsUri(ms.spec.model.uri)!;
    const live = pinned(ms, version('6'));
    const cases: [Resolution, string, string][] = [
      [{ ok: false, kind: 'Unreachable', message: 'http://mlflow: ECONNREFUSED' }, 'Unknown RegistryUnreachable', 'False RegistryUnreachable'],
      [{ ok: false, kind: 'Unauthorized', message: 'HTTP 401' }, 'Unknown Unauthorized', 'False Unauthorized'],
      [{ ok: false, kind: 'NotFound', message: 'plates has no alias champion' }, 'False ModelNotFound', 'True Reachable'],
      [ok(version('7', {})), 'False ModelHashMissing', 'True Reachable'],
      [{ ok: false, kind: 'Config', message: 'credentials Secret x not found' }, 'Unknown RegistryNotConfigured', 'Unknown RegistryNotConfigured'],
    ];
    for (const [r, resolved, reachable] of cases) {
      const d = decidePin(ms, ref, r, live);
      expect(d.pin, resolved).to.equal(live);
      expect(d.blocked, resolved).to.equal(undefined);
      expect(d.conditions.map((c) => `${c.status} ${c.reason}`), resolved).to.deep.equal([resolved, reachable]);
      expect(d.conditions[0]!.message, resolved).to.match(/; still serving models:\/plates\/6$/);
      // A new ModelService has nothing to keep: it is held back with the same reason.
      const fresh = decidePin(ms, ref, r, undefined);
      expect(fresh.pin, resolved).to.equal(undefined);
      expect(fresh.blocked?.reason, resolved).to.equal(resolved.split(' ')[1]);
    }
  });

  it('describes a change as the Event shows it', () => {
    const ms = registryMs();
    expect(describeChange(pinned(ms, version('6')), pinned(ms, version('7')))).to.equal('models:/plates@champion: v6 → v7');
    expect(describeChange(pinned(ms, version('7')), pinned(ms, version('6')))).to.equal('models:/plates@champion: v7 → v6');
  });
});

describe('what the operator builds for a pinned registry version', () => {
  const ms = registryMs('models:/plates@champion', { credentialsSecret: 'mlflow-creds', caBundle: { configMap: 'mlflow-ca', key: 'bundle.pem' } });
  const pin = pinned(ms, version('6'));

  it('fetches the version, never the alias, with the hash from the tag and the credentials by reference', () => {
    const d = buildDeployment({ ...ms, spec: { ...ms.spec, env: [{ name: 'MLFLOW_TRACKING_URI', value: 'http://elsewhere' }, { name: 'HTTPS_PROXY', value: 'http://p:3128' }] } }, config, 'h', pin);
    const pod = d.spec!.template.spec!;
    const fetch = fetchContainer(pod.initContainers);
    expect(fetch.args).to.deep.equal(['fetch', '--uri', 'models:/plates/6', '--sha256', SHA1, '--dest', '/models/model.onnx']);
    expect(fetch.env).to.deep.equal([
      { name: 'HTTPS_PROXY', value: 'http://p:3128' },
      { name: 'MLFLOW_TRACKING_URI', value: TRACKING },
      { name: 'MLFLOW_TRACKING_TOKEN', valueFrom: { secretKeyRef: { name: 'mlflow-creds', key: 'MLFLOW_TRACKING_TOKEN', optional: true } } },
      { name: 'MLFLOW_TRACKING_USERNAME', valueFrom: { secretKeyRef: { name: 'mlflow-creds', key: 'MLFLOW_TRACKING_USERNAME', optional: true } } },
      { name: 'MLFLOW_TRACKING_PASSWORD', valueFrom: { secretKeyRef: { name: 'mlflow-creds', key: 'MLFLOW_TRACKING_PASSWORD', optional: true } } },
      { name: 'NODE_EXTRA_CA_CERTS', value: '/etc/visionops-mlflow-ca/ca.crt' },
    ]);
    expect(fetch.volumeMounts).to.deep.include({ name: 'mlflow-ca', mountPath: '/etc/visionops-mlflow-ca', readOnly: true });
    expect(pod.volumes).to.deep.include({ name: 'mlflow-ca', configMap: { name: 'mlflow-ca', items: [{ key: 'bundle.pem', path: 'ca.crt' }] } });
    // The containers run the pinned version only; the alias is recorded as provenance for the status.
    expect(JSON.stringify([...(pod.initContainers ?? []), ...pod.containers])).to.not.include('@champion');
    const annotations = d.spec!.template.metadata!.annotations!;
    expect(annotations['visionops.io/model-uri']).to.equal('models:/plates/6');
    expect(annotations['visionops.io/model-sha256']).to.equal(SHA1);
    expect(pinFromAnnotations(annotations, annotations['visionops.io/model-sha256'])).to.deep.equal(pin);
  });

  it('tells the server its version and where it came from; a new version changes config and pod template', () => {
    const cfg = buildServerConfig(ms, config, pin);
    expect(cfg.model).to.deep.include({ path: '/models/model.onnx', name: 'plates', version: '6', source: 'models:/plates/6' });
    const a = desiredState(ms, config, pin);
    const b = desiredState(ms, config, pinned(ms, version('7')));
    const template = (s: typeof a) => JSON.stringify(s.apply.find((c) => c.kind === 'Deployment')!.spec!.template);
    expect(template(a)).to.not.equal(template(b));
    expect(template(a)).to.equal(template(desiredState(ms, config, pinned(ms, version('6')))));
  });

  it('reports the version the ready pods serve: the old one until a pod of the new one is ready', () => {
    const next = pinned(ms, version('7'));
    const podOf = (name: string, p: RegistryPin): V1Pod => {
      const d = buildDeployment(ms, config, 'h', p);
      const pod = readyPod(name);
      pod.metadata!.annotations = { ...d.spec!.template.metadata!.annotations };
      return pod;
    };
    const registry = { pin: next, conditions: [] };
    const during = computeStatus(ms, { deployment: rolledOut(1), pods: [podOf('a', pin)], registry }, config, new Date());
    expect(during.model).to.deep.include({ version: '6', resolvedUri: 'models:/plates/6', alias: 'champion', runId: 'run6', sha256: SHA1, uri: 'models:/plates@champion' });
    const after = computeStatus(ms, { deployment: rolledOut(1), pods: [podOf('a', pin), podOf('b', next)], registry }, config, new Date());
    expect(after.model).to.deep.include({ version: '7', resolvedUri: 'models:/plates/7', source: 'mlflow-artifacts:/1/run7/artifacts/model', sha256: SHA2 });
  });

  it('holds a new ModelService back with the registry reason, and nothing to roll out', () => {
    const blocked = { reason: 'ModelNotFound', message: 'alias champion of plates not found in the registry' };
    const s = computeStatus(ms, { pods: [], registry: { conditions: [], blocked } }, config, new Date());
    const c = Object.fromEntries((s.conditions ?? []).map((x) => [x.type, `${x.status} ${x.reason}`]));
    expect(c).to.deep.include({ Ready: 'False ModelNotFound', ModelReady: 'False ModelNotFound', Progressing: 'False ModelNotFound' });
    expect(s.model).to.equal(undefined);
  });
});
