/**
 * End to end on a real node: the operator installed as a user installs it, ModelServices served
 * by real pods (kubelet, containerd, runc), requests sent to Service ClusterIPs from this machine.
 * The suites run in order on one cluster; each ModelService lives in a namespace of its own.
 *
 * Needs root (network namespaces, mounts, cgroups), runc and iptables from Debian, and the
 * project's images in podman's storage (`npm run images`). `npm run test:e2e` runs only these.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { GROUP, PLURAL, VERSION } from '../../crds/modelservice.js';
import { BUNDLED_MODEL_FILES } from '../../contract/pod-layout.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { NODE_LABEL, NODE_LABEL_VALUE, NODE_NAME, STORAGE_CLASS } from '../cluster/realnode/node.js';
import { KWOK_TAINT } from '../cluster/nodes.js';
import { PROJECT_IMAGES } from '../cluster/realnode/images.js';
import {
  containerPids, deploymentAvailable, describeModelService, eventually, podsOf, processFacts, readModelService, scheduledToReadySeconds,
  serviceUrl, waitForCondition,
} from './helpers.js';
import { getRealCluster, type RealCluster } from './real-cluster.js';
import { runCommand } from '../cluster/command.js';
import { isAlive } from '../cluster/process-util.js';

const [OPERATOR_IMAGE, SERVER_IMAGE] = PROJECT_IMAGES;
const OPERATOR_NS = 'visionops-system';
const PLATE_JPG = path.join(REPO_ROOT, 'ci', 'smoke', 'plate.jpg');
/** What the smoke image's plate reads (ci/smoke/README.md). */
const PLATE_TEXT = 'ZF89CYC';
/** A real start on a loaded 2-core machine: image already on the node, model load, OCR workers, warm-up. */
const READY_MS = 240_000;

const numbers: string[] = [];
function report(line: string): void {
  numbers.push(line);
  console.log(`      [e2e] ${line}`);
}

async function postImage(url: string, file: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: await readFile(file), signal: AbortSignal.timeout(60_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Detection {
  class: string;
  text?: string;
}

function texts(body: Record<string, unknown>): string[] {
  return ((body.detections as Detection[] | undefined) ?? []).filter((d) => d.class === 'plate').map((d) => d.text ?? '');
}

async function createNamespace(c: RealCluster, name: string): Promise<string> {
  const core = c.kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { 'visionops.test/namespace': 'true' } } } });
  await eventually(`ServiceAccount default in ${name}`, 30_000, () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true, () => undefined),
  );
  return name;
}

/** The node has 2 CPUs: test ModelServices reserve a fifth of the default 500m so several fit at once. */
const SMALL = { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } };

/** Frees the node for the next suite; pods of a deleted namespace release their CPU requests as they go. */
async function deleteNamespace(c: RealCluster, name: string): Promise<void> {
  await c.kubeConfig.makeApiClient(CoreV1Api).deleteNamespace({ name }).catch(() => undefined);
}

async function applyModelService(c: RealCluster, namespace: string, ms: { metadata: { name: string }; spec: unknown }): Promise<void> {
  const custom = c.kubeConfig.makeApiClient(CustomObjectsApi);
  await custom.createNamespacedCustomObject({
    group: GROUP, version: VERSION, plural: PLURAL, namespace,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'ModelService', ...ms, spec: { resources: SMALL, ...(ms.spec as object) } },
  });
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A file server inside the cluster, for models over http: node from the server image serving the
 * image's bundled models and the files of a ConfigMap, with the restricted security context.
 */
async function startFileServer(c: RealCluster, namespace: string, files: Record<string, string>): Promise<string> {
  const core = c.kubeConfig.makeApiClient(CoreV1Api);
  const apps = c.kubeConfig.makeApiClient(AppsV1Api);
  const script = `
const http = require('http'), fs = require('fs'), path = require('path');
const roots = { '/models/': '/app/models/', '/files/': '/files/' };
http.createServer((req, res) => {
  const prefix = Object.keys(roots).find((k) => req.url.startsWith(k));
  if (!prefix) return res.writeHead(404).end();
  const file = path.join(roots[prefix], path.basename(req.url));
  fs.stat(file, (err, st) => {
    if (err) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': st.size, 'Content-Type': 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
}).listen(8000);`;
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'files' }, data: { 'serve.cjs': script, ...files } } });
  const labels = { app: 'files' };
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'files' },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'files', image: SERVER_IMAGE, command: ['node', '/files/serve.cjs'],
              ports: [{ containerPort: 8000 }],
              readinessProbe: { tcpSocket: { port: 8000 }, periodSeconds: 1 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'files', mountPath: '/files' }],
            }],
            volumes: [{ name: 'files', configMap: { name: 'files' } }],
          },
        },
      },
    },
  });
  await core.createNamespacedService({ namespace, body: { metadata: { name: 'files' }, spec: { selector: labels, ports: [{ port: 8000, targetPort: 8000 }] } } });
  await eventually('the file server', 120_000, async () => ((await deploymentAvailable(c.kubeConfig, namespace, 'files')) ? true : undefined));
  return serviceUrl(c.kubeConfig, namespace, 'files');
}

async function serverPod(kc: KubeConfig, namespace: string, name: string): Promise<V1Pod> {
  const pods = (await podsOf(kc, namespace, `app.kubernetes.io/instance=${name}`)).filter((p) => !p.metadata?.deletionTimestamp);
  expect(pods, `pods of ${name}`).to.have.length.greaterThan(0);
  return pods[0]!;
}

describe('@integration @e2e a real node', function () {
  this.timeout(READY_MS + 120_000);
  let c: RealCluster;
  /** The in-cluster file server of the http suite (its ClusterIP), also the rollout's new model. */
  let files = '';
  const plateDetector = path.join(REPO_ROOT, BUNDLED_MODEL_FILES.plateDetector);

  before(async function () {
    // A first run on a fresh machine builds the node's binaries (the build bounds its own steps).
    this.timeout(0);
    c = await getRealCluster();
  });

  after(() => {
    if (numbers.length) console.log(`\n      e2e numbers:\n${numbers.map((n) => `        ${n}`).join('\n')}\n`);
  });

  describe('the node', () => {
    it('is Ready, labelled, and the only one ordinary pods can land on', async () => {
      const core = c.kubeConfig.makeApiClient(CoreV1Api);
      const nodes = (await core.listNode({})).items;
      const real = nodes.find((n) => n.metadata?.name === NODE_NAME);
      expect(real?.metadata?.labels?.[NODE_LABEL]).to.equal(NODE_LABEL_VALUE);
      expect(real?.status?.conditions?.find((x) => x.type === 'Ready')?.status).to.equal('True');
      expect(real?.status?.nodeInfo?.containerRuntimeVersion).to.match(/^containerd:\/\/2\./);
      for (const n of nodes.filter((x) => x !== real)) expect(n.spec?.taints).to.deep.include({ ...KWOK_TAINT });
      const images = (await c.kubectl('get', 'node', NODE_NAME, '-o', 'jsonpath={.status.images[*].names}'));
      for (const image of PROJECT_IMAGES) expect(images).to.include(image);
      const sc = await c.kubectl('get', 'storageclass', STORAGE_CLASS, '-o', 'jsonpath={.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}');
      expect(sc).to.equal('true');
    });
  });

  describe('installed with kubectl apply -k config/default', () => {
    const ns = 'e2e-plates';

    before(async () => {
      await c.kubectl('apply', '-k', 'config/default');
      await eventually('the operator Deployment', READY_MS, async () =>
        (await deploymentAvailable(c.kubeConfig, OPERATOR_NS, 'visionops-controller-manager')) ? true : undefined,
        () => c.kubectl('get', 'pods', '-n', OPERATOR_NS, '-o', 'wide'),
      );
      await createNamespace(c, ns);
    });

    it('runs the operator as a real pod in a namespace that enforces the restricted Pod Security level', async () => {
      const core = c.kubeConfig.makeApiClient(CoreV1Api);
      const nsObj = await core.readNamespace({ name: OPERATOR_NS });
      expect(nsObj.metadata?.labels?.['pod-security.kubernetes.io/enforce']).to.equal('restricted');
      const [pod] = (await core.listNamespacedPod({ namespace: OPERATOR_NS })).items;
      expect(pod?.spec?.nodeName).to.equal(NODE_NAME);
      expect(pod?.status?.containerStatuses?.[0]?.image).to.equal(OPERATOR_IMAGE);
      // The restricted level really is enforced: a root pod is refused at admission.
      const refused = await core
        .createNamespacedPod({ namespace: OPERATOR_NS, body: { metadata: { name: 'root' }, spec: { containers: [{ name: 'c', image: SERVER_IMAGE, securityContext: { runAsUser: 0 } }] } } })
        .then(() => 'created', (e: { body?: string }) => String(e.body));
      expect(refused).to.match(/violates PodSecurity \\?"restricted/);
    });

    it('examples/plate-reader.yaml, unmodified, becomes Ready with no network, and reads the smoke plate on its ClusterIP', async () => {
      await c.kubectl('apply', '-n', ns, '-f', 'examples/plate-reader.yaml');
      const { ms } = await waitForCondition(c.kubeConfig, ns, 'plate-reader', 'Ready', (x) => x.status === 'True', READY_MS).then((r) => ({ ms: r.ms }));
      report(`plate-reader Ready ${(ms / 1000).toFixed(1)} s after kubectl apply`);
      const pod = await serverPod(c.kubeConfig, ns, 'plate-reader');
      expect(pod.spec?.nodeName).to.equal(NODE_NAME);
      const s2r = scheduledToReadySeconds(pod);
      report(`a server pod's time from scheduled to Ready: ${s2r} s`);
      const url = await serviceUrl(c.kubeConfig, ns, 'plate-reader');
      const read = await postImage(`${url}/v1/read`, PLATE_JPG);
      expect(read.status, JSON.stringify(read.body)).to.equal(200);
      expect(texts(read.body)).to.include(PLATE_TEXT);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).to.match(/visionops_http_requests_total\{route="\/v1\/read",method="POST",status="200"\} [1-9]/);
      expect(metrics).to.include('visionops_model_ready 1');
    });

    it('runs the server as uid 1000 on a read-only root filesystem, and the kubelet refuses a root user under runAsNonRoot', async () => {
      const pod = await serverPod(c.kubeConfig, ns, 'plate-reader');
      const id = pod.status?.containerStatuses?.find((x) => x.name === 'server')?.containerID ?? '';
      const pids = await containerPids(c.state.realNode!.cgroupRoot, id);
      expect(pids, 'server container processes').to.have.length.greaterThan(0);
      for (const pid of pids) {
        const facts = await processFacts(pid);
        expect(facts.uids, `uids of ${facts.comm}`).to.deep.equal([1000, 1000, 1000, 1000]);
        expect(facts.rootReadOnly, `/ of ${facts.comm} read-only`).to.equal(true);
      }
      // runAsNonRoot is the kubelet's check (admission cannot know the image's user).
      const core = c.kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespacedPod({
        namespace: ns,
        body: { metadata: { name: 'as-root' }, spec: { securityContext: { runAsNonRoot: true }, containers: [{ name: 'c', image: SERVER_IMAGE, securityContext: { runAsUser: 0 } }] } },
      });
      const { value } = await eventually('the kubelet to refuse the root container', 60_000, async () => {
        const p = await core.readNamespacedPod({ name: 'as-root', namespace: ns });
        const w = p.status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'CreateContainerConfigError' ? w.message ?? '' : undefined;
      });
      expect(value).to.match(/non-root/);
    });
  });

  describe('models over http, and failures a user must see within a minute', () => {
    const ns = 'e2e-http';
    const notAModel = 'this is a text file that someone saved as model.onnx\n';

    before(async () => {
      await createNamespace(c, ns);
      files = await startFileServer(c, ns, { 'not-a-model.onnx': notAModel });
    });
    // The file server stays: the rollout's new model comes from it. The failing ones go.
    after(async () => {
      const custom = c.kubeConfig.makeApiClient(CustomObjectsApi);
      for (const name of ['fetched', 'bad-sha', 'no-image', 'not-onnx']) {
        await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name }).catch(() => undefined);
      }
    });

    it('a model over http with its sha256 goes through the real fetch init container and serves', async () => {
      const uri = `${files}/models/plate-detector.onnx`;
      await applyModelService(c, ns, { metadata: { name: 'fetched' }, spec: { model: { uri, sha256: sha256(await readFile(plateDetector)) }, ocr: { classes: ['plate'] } } });
      const { ms } = await waitForCondition(c.kubeConfig, ns, 'fetched', 'Ready', (x) => x.status === 'True', READY_MS);
      report(`http model (fetched by the init container) Ready in ${(ms / 1000).toFixed(1)} s`);
      const pod = await serverPod(c.kubeConfig, ns, 'fetched');
      const init = pod.status?.initContainerStatuses?.find((x) => x.name === 'fetch-model');
      expect(init?.state?.terminated?.exitCode).to.equal(0);
      const read = await postImage(`${await serviceUrl(c.kubeConfig, ns, 'fetched')}/v1/detect`, PLATE_JPG);
      expect(read.status).to.equal(200);
      expect((read.body.detections as Detection[]).map((d) => d.class)).to.include('plate');
    });

    it('a wrong sha256 shows ModelFetchFailed with the fetcher\'s message in 60 s', async () => {
      const uri = `${files}/models/plate-detector.onnx`;
      await applyModelService(c, ns, { metadata: { name: 'bad-sha' }, spec: { model: { uri, sha256: 'a'.repeat(64) } } });
      const { value, ms } = await waitForCondition(c.kubeConfig, ns, 'bad-sha', 'ModelReady', (x) => x.reason === 'ModelFetchFailed', 60_000);
      report(`wrong sha256 -> ModelFetchFailed in ${(ms / 1000).toFixed(1)} s`);
      expect(value.status).to.equal('False');
      expect(value.message).to.include('model fetch failed').and.to.include('sha256').and.to.include('a'.repeat(64));
    });

    it('an image that does not exist shows ImagePullBackOff from the kubelet in 60 s', async () => {
      await applyModelService(c, ns, { metadata: { name: 'no-image' }, spec: { image: 'ghcr.io/visionops/does-not-exist:0.0.0', model: { uri: 'bundled://plate-detector' } } });
      const { value, ms } = await waitForCondition(c.kubeConfig, ns, 'no-image', 'Ready', (x) => x.reason === 'ImagePullBackOff', 60_000);
      report(`missing image -> ImagePullBackOff in ${(ms / 1000).toFixed(1)} s`);
      expect(value.message).to.include('ghcr.io/visionops/does-not-exist:0.0.0');
    });

    it('a file that is not ONNX shows ModelReady=False with the server\'s own reason in 60 s', async () => {
      const uri = `${files}/files/not-a-model.onnx`;
      await applyModelService(c, ns, { metadata: { name: 'not-onnx' }, spec: { model: { uri, sha256: sha256(notAModel) } } });
      const { value, ms } = await waitForCondition(c.kubeConfig, ns, 'not-onnx', 'ModelReady', (x) => x.reason === 'ModelLoadFailed', 60_000);
      report(`not ONNX -> ModelLoadFailed in ${(ms / 1000).toFixed(1)} s`);
      expect(value.status).to.equal('False');
      expect(value.message).to.include('model load failed: cannot serve /models/model.onnx');
    });
  });

  describe('spec.ingress.path other than /', () => {
    const ns = 'e2e-ingress';
    before(() => createNamespace(c, ns));
    after(() => deleteNamespace(c, ns));

    it('serves the API under the prefix the Ingress routes, and status.url names it', async () => {
      await applyModelService(c, ns, {
        metadata: { name: 'prefixed' },
        spec: { model: { uri: 'bundled://plate-detector' }, ocr: { classes: ['plate'] }, ingress: { host: 'plates.example.test', path: '/models/plates' } },
      });
      await waitForCondition(c.kubeConfig, ns, 'prefixed', 'Ready', (x) => x.status === 'True', READY_MS);
      const ms = await readModelService(c.kubeConfig, ns, 'prefixed');
      expect(ms?.status?.url).to.equal('http://plates.example.test/models/plates');
      const ing = await c.kubectl('get', 'ingress', 'prefixed', '-n', ns, '-o', 'jsonpath={.spec.rules[0].http.paths[0].path}');
      expect(ing).to.equal('/models/plates');
      // What the Ingress forwards (a Prefix route keeps the path), sent to the Service.
      const url = await serviceUrl(c.kubeConfig, ns, 'prefixed');
      const read = await postImage(`${url}/models/plates/v1/read`, PLATE_JPG);
      expect(read.status, JSON.stringify(read.body)).to.equal(200);
      expect((await fetch(`${url}/models/plates/v2/models/prefixed/ready`)).status).to.equal(200);
    });
  });

  describe('the archive on a real PersistentVolumeClaim', () => {
    const ns = 'e2e-archive';
    before(() => createNamespace(c, ns));
    after(() => deleteNamespace(c, ns));

    it('keeps a posted image and its sidecar on the volume, and a replacement pod sees them', async () => {
      await applyModelService(c, ns, { metadata: { name: 'archived' }, spec: { model: { uri: 'bundled://plate-detector' }, archive: { enabled: true, size: '1Gi' } } });
      await waitForCondition(c.kubeConfig, ns, 'archived', 'Ready', (x) => x.status === 'True', READY_MS);
      const url = await serviceUrl(c.kubeConfig, ns, 'archived');
      const posted = await postImage(`${url}/v1/detect`, PLATE_JPG);
      expect(posted.status).to.equal(200);
      const digest = posted.body.sha256 as string;
      expect(digest).to.equal(sha256(await readFile(PLATE_JPG)));

      const core = c.kubeConfig.makeApiClient(CoreV1Api);
      const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
      expect(claims).to.have.length(1);
      expect(claims[0]?.spec?.storageClassName).to.equal(STORAGE_CLASS);
      const pv = await core.readPersistentVolume({ name: claims[0]!.spec!.volumeName! });
      const dir = pv.spec?.hostPath?.path ?? '';
      const onVolume = await eventually('the image and sidecar on the volume', 10_000, async () => {
        const names = await readdir(path.join(dir, digest.slice(0, 2))).catch(() => [] as string[]);
        return names.includes(`${digest}.jpg`) && names.includes(`${digest}.json`) ? names : undefined;
      });
      expect(onVolume.value).to.include(`${digest}.json`);
      const sidecar = JSON.parse(await readFile(path.join(dir, digest.slice(0, 2), `${digest}.json`), 'utf8')) as { sha256?: string; result?: { requestId?: string } };
      expect(sidecar.sha256).to.equal(digest);
      expect(sidecar.result?.requestId).to.equal(posted.body.requestId);

      const old = await serverPod(c.kubeConfig, ns, 'archived');
      await core.deleteNamespacedPod({ name: old.metadata!.name!, namespace: ns });
      const { value: replacement } = await eventually('a Ready replacement pod', READY_MS, async () => {
        const pods = await podsOf(c.kubeConfig, ns, 'app.kubernetes.io/instance=archived');
        return pods.find((p) => p.metadata?.name !== old.metadata?.name && !p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
      });
      // The new pod's own mount: read through its server process's root, as the pod sees it.
      const id = replacement.status?.containerStatuses?.find((x) => x.name === 'server')?.containerID ?? '';
      const [pid] = await containerPids(c.state.realNode!.cgroupRoot, id);
      expect(pid, 'the replacement server process').to.be.a('number');
      const seen = await stat(`/proc/${pid}/root/archive/${digest.slice(0, 2)}/${digest}.jpg`);
      expect(seen.size).to.equal((await readFile(PLATE_JPG)).length);
    });
  });

  describe('a rolling update under continuous requests', () => {
    const ns = 'e2e-rollout';
    before(() => createNamespace(c, ns));
    after(() => deleteNamespace(c, ns));

    it('drops no request: old pods go only after new ones are Ready', async function () {
      await applyModelService(c, ns, { metadata: { name: 'rolling' }, spec: { replicas: 2, model: { uri: 'bundled://plate-detector' } } });
      await waitForCondition(c.kubeConfig, ns, 'rolling', 'Ready', (x) => x.status === 'True', READY_MS);
      // Without a preStop delay a terminating pod stops accepting before kube-proxy has taken it
      // out of the Service: requests in that gap fail (2 of 89 in a run without it).
      const dep = await c.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'rolling', namespace: ns });
      expect(dep.spec?.template.spec?.containers.find((x) => x.name === 'server')?.lifecycle?.preStop, 'the server container\'s preStop').to.not.equal(undefined);
      const url = `${await serviceUrl(c.kubeConfig, ns, 'rolling')}/v1/detect`;
      const image = await readFile(PLATE_JPG);
      const oldPods = new Set((await podsOf(c.kubeConfig, ns, 'app.kubernetes.io/instance=rolling')).map((p) => p.metadata!.name!));

      // One client, back to back, as a steady caller would; every answer must be a 200.
      let stop = false;
      let requests = 0;
      const errors: string[] = [];
      const clientStarted = Date.now();
      // Each error says when it came (seconds from the client's start; the rollout starts at once),
      // so a failure tells a start-up gap from one at a pod's hand-over.
      const at = () => `+${((Date.now() - clientStarted) / 1000).toFixed(2)} s`;
      const client = (async () => {
        while (!stop) {
          requests++;
          try {
            const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' }, body: image, signal: AbortSignal.timeout(30_000) });
            await res.arrayBuffer();
            if (res.status !== 200) errors.push(`${at()} HTTP ${res.status}`);
          } catch (e) {
            errors.push(`${at()} ${(e as Error).message}${(e as { cause?: Error }).cause ? `: ${(e as { cause?: Error }).cause?.message}` : ''}`);
          }
        }
      })();

      // Watch the pods: no old pod may start terminating while fewer than 2 new pods are Ready.
      const violations: string[] = [];
      const timeline: string[] = [];
      const started = Date.now();
      let newReadyAt = 0;
      const custom = c.kubeConfig.makeApiClient(CustomObjectsApi);
      // A new model: the same detector, now downloaded from the file server with its digest.
      // A merge patch, not read-then-replace: the operator writes the object's status meanwhile,
      // and a replace with the resourceVersion read before that is refused with 409 Conflict.
      const model = { uri: `${files}/models/plate-detector.onnx`, sha256: sha256(await readFile(plateDetector)) };
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name: 'rolling', body: { spec: { model } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      try {
        await eventually('the rollout', READY_MS * 2, async () => {
          const pods = await podsOf(c.kubeConfig, ns, 'app.kubernetes.io/instance=rolling');
          const fresh = pods.filter((p) => !oldPods.has(p.metadata!.name!));
          const readyFresh = fresh.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'));
          const leaving = pods.filter((p) => oldPods.has(p.metadata!.name!) && p.metadata?.deletionTimestamp);
          if (leaving.length > readyFresh.length) violations.push(`${leaving.length} old pods terminating with ${readyFresh.length} new ones Ready`);
          const oldLeft = pods.filter((p) => oldPods.has(p.metadata!.name!));
          const state = `${at()} new Ready ${readyFresh.length}, old ${oldLeft.length} (terminating ${leaving.length})`;
          if (timeline.at(-1)?.replace(/^\S+ \S+ /, '') !== state.replace(/^\S+ \S+ /, '')) timeline.push(state);
          if (readyFresh.length === 2 && !newReadyAt) newReadyAt = Date.now();
          return readyFresh.length === 2 && oldLeft.length === 0 ? true : undefined;
        }, () => describeModelService(c.kubeConfig, ns, 'rolling'));
      } finally {
        stop = true;
        await client;
      }
      const seconds = (Date.now() - started) / 1000;
      report(`rolling update (2 replicas, maxSurge 1, maxUnavailable 0): ${requests} requests, ${errors.length} errors, ` +
        `${((newReadyAt - started) / 1000).toFixed(1)} s until both new pods were Ready, ${seconds.toFixed(1)} s until the old ones were gone` +
        (errors.length ? ` (first: ${errors[0]})` : ''));
      expect(violations, 'old pods removed before new ones were Ready').to.deep.equal([]);
      expect(requests).to.be.greaterThan(10);
      expect(errors, `failed requests of ${requests}; the pods meanwhile: ${timeline.join('; ')}`).to.deep.equal([]);
    });
  });

  describe('installed with the Helm chart', () => {
    const ns = 'e2e-helm';

    before(async () => {
      // The kustomize install goes first, operator, CRD and all (and with the CRD, every ModelService).
      await c.kubectl('delete', '-k', 'config/default', '--wait=true', '--timeout=180s');
    });

    it('installs the operator with helm and serves examples/plate-reader.yaml', async () => {
      const core = c.kubeConfig.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: OPERATOR_NS, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
      await c.helm('upgrade', '--install', 'visionops', 'charts/visionops', '-n', OPERATOR_NS, '--wait', '--timeout', '4m');
      const [pod] = (await core.listNamespacedPod({ namespace: OPERATOR_NS })).items;
      expect(pod?.status?.containerStatuses?.[0]?.image).to.equal(OPERATOR_IMAGE);
      await createNamespace(c, ns);
      const example = parse(await readFile(path.join(REPO_ROOT, 'examples', 'plate-reader.yaml'), 'utf8')) as { metadata: { name: string } };
      await c.kubectl('apply', '-n', ns, '-f', 'examples/plate-reader.yaml');
      await waitForCondition(c.kubeConfig, ns, example.metadata.name, 'Ready', (x) => x.status === 'True', READY_MS);
      const read = await postImage(`${await serviceUrl(c.kubeConfig, ns, example.metadata.name)}/v1/read`, PLATE_JPG);
      expect(texts(read.body)).to.include(PLATE_TEXT);
    });
  });

  describe('npm run cluster -- down', () => {
    it('removes every mount, namespace, interface, route, cgroup, iptables rule and process the node made', async function () {
      if (!c.owned) this.skip(); // a cluster reused from KUBECONFIG is the developer's to stop
      const node = c.state.realNode!;
      // Only what could be the node's: kube-proxy's chains, its bridge, its ranges and veth. (The
      // host may have rules of its own, e.g. podman's CNI chains; those are not the node's.)
      const index = node.index;
      const ours = new RegExp(`KUBE-|cni0|10\\.20[012]\\.${index}\\.|${node.hostVeth}`);
      const hostRules = async () => (await runCommand('iptables-save', [])).split('\n').filter((l) => ours.test(l));
      // While it runs, the node's rules live in its own namespace, never in the host's.
      expect(await hostRules()).to.deep.equal([]);
      const netnsRules = await runCommand('ip', ['netns', 'exec', node.netns, 'iptables-save']);
      expect(netnsRules).to.include('KUBE-SERVICES');
      const pids = (await runCommand('ip', ['netns', 'pids', node.netns])).split(/\s+/).filter(Boolean).map(Number);
      expect(pids.length).to.be.greaterThan(3);
      const started = Date.now();
      await c.stop();
      report(`down (control plane, node, pods) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

      expect(await hostRules()).to.deep.equal([]);
      expect(await readdir('/run/netns').catch(() => [] as string[])).to.not.include(node.netns);
      expect((await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith('cni-'))).to.deep.equal([]);
      expect(await runCommand('ip', ['-o', 'link', 'show'])).to.not.include(node.hostVeth);
      expect(await runCommand('ip', ['route'])).to.not.include(node.hostVeth);
      expect((await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(node.dir) || l.includes(`/run/netns/${node.netns} `))).to.deep.equal([]);
      for (const pid of pids) expect(isAlive(pid), `process ${pid} of the node`).to.equal(false);
      for (const h of await readdir('/sys/fs/cgroup')) {
        expect(await stat(path.join('/sys/fs/cgroup', h, node.cgroupRoot)).then(() => 'there', () => 'gone'), `cgroup ${h}${node.cgroupRoot}`).to.equal('gone');
      }
      expect(await stat(node.dir).then(() => 'there', () => 'gone')).to.equal('gone');
    });
  });
});
