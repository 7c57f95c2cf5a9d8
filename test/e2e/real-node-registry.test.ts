/**
 * End to end on the real node, from the MLflow registry: the operator installed with
 * `kubectl apply -k config/default` (a real pod, the default 30 s poll), a real `mlflow server`
 * (basic-auth app) on this machine behind the HTTPS front, listening on the host end of the node's
 * veth, the one address pods can reach. A ModelService follows `champion`: its pod's init
 * container fetches the version through the artifact proxy with the Secret's credentials and the
 * ConfigMap's CA, the server reports the version on its ClusterIP, and moving the alias rolls a
 * new pod that reports the new one.
 *
 * Runs before real-node.test.ts (file order), whose last test takes the cluster down; on its
 * own (`npm run test:e2e -- -g registry`) it installs the operator itself.
 */
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLED_MODEL_FILES } from '../../contract/pod-layout.js';
import { GROUP, PLURAL, VERSION } from '../../crds/modelservice.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { ADMIN, MlflowRest, type Registered, RegistryFront, registerVersions, sharedMlflow } from '../registry/mlflow.js';
import { deploymentAvailable, eventually, readModelService, serviceUrl, waitForCondition } from './helpers.js';
import { getRealCluster, type RealCluster } from './real-cluster.js';

const OPERATOR_NS = 'visionops-system';
const NS = 'e2e-registry';
/** A real start on a loaded 2-core machine: model fetched from MLflow, load, OCR workers, warm-up. */
const READY_MS = 240_000;
const SMALL = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } };

interface ModelInfo {
  name: string;
  version: string;
  source?: string;
  format?: string;
  sha256?: string;
}

async function servedModel(url: string): Promise<ModelInfo | undefined> {
  try {
    const res = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(10_000) });
    return ((await res.json()) as { models: ModelInfo[] }).models[0];
  } catch {
    return undefined;
  }
}

describe('@integration @e2e a real node serving from the MLflow registry', function () {
  this.timeout(READY_MS + 120_000);
  let c: RealCluster;
  let front: RegistryFront;
  let rest: MlflowRest;
  let versions: Registered[];
  const report: string[] = [];

  before(async function () {
    this.timeout(0);
    c = await getRealCluster();
    const hostIp = c.state.realNode?.hostIp;
    if (!hostIp) throw new Error('the e2e cluster has no real node');
    await c.kubectl('apply', '-k', 'config/default');
    await eventually('the operator Deployment', READY_MS, async () => ((await deploymentAvailable(c.kubeConfig, OPERATOR_NS, 'visionops-controller-manager')) ? true : undefined));

    const mlflow = await sharedMlflow();
    rest = new MlflowRest(mlflow.url);
    front = new RegistryFront(mlflow.url, hostIp);
    await front.start();
    versions = await registerVersions(mlflow, [
      { name: 'e2e-plate-detector', files: [path.join(REPO_ROOT, BUNDLED_MODEL_FILES.plateDetector)] },
      { name: 'e2e-plate-detector', files: [path.join(REPO_ROOT, 'test/fixtures/models/yolov8-const.onnx')] },
    ]);
    await rest.setAlias('e2e-plate-detector', 'champion', versions[0]!.version);

    const core = c.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS, labels: { 'visionops.test/namespace': 'true' } } } });
    await eventually(`ServiceAccount default in ${NS}`, 30_000, () => core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(() => true, () => undefined));
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'mlflow-creds' }, stringData: { MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: ADMIN.password } } });
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'mlflow-ca' }, data: { 'ca.crt': front.caPem } } });
  });

  after(async () => {
    if (report.length) console.log(`\n      e2e registry numbers:\n${report.map((n) => `        ${n}`).join('\n')}\n`);
    await c?.kubeConfig.makeApiClient(CoreV1Api).deleteNamespace({ name: NS }).catch(() => undefined);
    await front?.stop();
  });

  it('serves the version the alias points at, fetched through MLflow, and rolls to the next one when the alias moves', async () => {
    const [v1, v2] = [versions[0]!, versions[1]!];
    await c.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP, version: VERSION, plural: PLURAL, namespace: NS,
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: 'ModelService', metadata: { name: 'plates' },
        spec: {
          model: { uri: 'models:/e2e-plate-detector@champion', mlflow: { trackingUri: front.url, credentialsSecret: 'mlflow-creds', caBundle: { configMap: 'mlflow-ca' } } },
          resources: SMALL,
        },
      },
    });
    const { ms } = await waitForCondition(c.kubeConfig, NS, 'plates', 'Ready', (x) => x.status === 'True', READY_MS);
    report.push(`registry model (fetched through MLflow's artifact proxy) Ready in ${(ms / 1000).toFixed(1)} s`);
    const url = await serviceUrl(c.kubeConfig, NS, 'plates');
    const first = await servedModel(url);
    expect(first).to.deep.include({ name: 'plates', version: v1.version, source: `models:/e2e-plate-detector/${v1.version}`, format: 'yolov5' });
    expect(first?.sha256).to.equal(createHash('sha256').update(await readFile(path.join(REPO_ROOT, BUNDLED_MODEL_FILES.plateDetector))).digest('hex'));
    // The proxy saw the pod's fetch: the listing and the download, with the Secret's credentials.
    expect(front.count('model-versions/get-download-uri')).to.be.at.least(1);

    await rest.setAlias('e2e-plate-detector', 'champion', v2.version);
    const moved = Date.now();
    const served = await eventually(`the Service answering with version ${v2.version}`, READY_MS, async () => {
      const m = await servedModel(url);
      return m?.version === v2.version ? m : undefined;
    });
    const servedMs = Date.now() - moved;
    const status = await eventually('status.model.version', READY_MS, async () => {
      const s = await readModelService(c.kubeConfig, NS, 'plates');
      return s?.status?.model?.version === v2.version ? s.status.model : undefined;
    });
    report.push(`alias move -> the Service answers with the new version after ${(servedMs / 1000).toFixed(1)} s, status.model says so after ${((Date.now() - moved) / 1000).toFixed(1)} s (operator poll 30 s)`);
    expect(served.value).to.deep.include({ source: `models:/e2e-plate-detector/${v2.version}`, format: 'yolov8' });
    expect(status.value).to.deep.include({ alias: 'champion', resolvedUri: `models:/e2e-plate-detector/${v2.version}`, runId: v2.runId });
    await eventually('the serving tag on the new version', 60_000, async () => ((await rest.tags('e2e-plate-detector', v2.version))[`visionops.serving/${NS}.plates`] ? true : undefined));
  });
});
