/**
 * The server image as the operator's pods run it: read-only root filesystem, uid 1000, every
 * capability dropped, no-new-privileges, and /tmp the only writable place (the pod's emptyDir).
 * The image is the one `npm run images` builds from this working tree.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { REPO_ROOT } from '../cluster/paths.js';
import { waitUntil } from '../cluster/probe.js';
import { type BuiltImages, builtImages, Container, packageVersion, podman, RESTRICTED, run, podmanEnv } from './podman.js';

const TELEMETRY_WARNING = 'Failed to persist telemetry device ID';
/** What ci/smoke/plate.jpg shows (ci/smoke/README.md); the smoke jobs expect the same. */
const PLATE_TEXT = 'ZF89CYC';

/** The pod's volumes: /tmp is an emptyDir; nothing else is writable. */
const POD_LIKE = [...RESTRICTED, '--read-only-tmpfs=false', '--tmpfs', '/tmp:rw,size=64m,mode=1777', '--publish', '127.0.0.1::8080'];

async function startServer(image: string, extra: string[] = []): Promise<{ container: Container; url: string; startedAt: number }> {
  const container = new Container();
  const startedAt = Date.now();
  await container.start([...POD_LIKE, ...extra], image);
  const port = (await podman('port', container.name, '8080/tcp')).trim().split(':').pop();
  return { container, url: `http://127.0.0.1:${port}`, startedAt };
}

async function waitReady(url: string, container: Container, timeoutMs: number): Promise<void> {
  await waitUntil('/readyz 200', timeoutMs, async () => {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.ok) return true;
    if (!(await container.state()).Running) throw new Error(`the server exited:\n${await container.logs()}`);
    return false;
  });
}

describe('@integration server image, run as a restricted pod runs it', function () {
  let images: BuiltImages;
  let server: Awaited<ReturnType<typeof startServer>>;
  let baselineDiff: string[];

  before(async function () {
    this.timeout(0);
    images = await builtImages();
    server = await startServer(images.images.server.ref);
    // podman's own doing before the server ran a line (mount points for /etc/hosts and friends).
    baselineDiff = await server.container.diff();
  });

  after(async function () {
    this.timeout(30_000);
    await server?.container.remove();
  });

  it('is named as the operator and the manifests expect', () => {
    expect(images.images.server.ref).to.equal(`ghcr.io/visionops/visionops-server:${packageVersion()}`);
  });

  it('is ready within 60 s', async function () {
    this.timeout(70_000);
    await waitReady(server.url, server.container, 60_000);
    console.log(`      ready ${((Date.now() - server.startedAt) / 1000).toFixed(1)} s after podman run (npm run bench:images measures startup properly)`);
  });

  it(`reads the plate of ci/smoke/plate.jpg: ${PLATE_TEXT}`, async function () {
    this.timeout(60_000);
    const form = new FormData();
    form.append('image', new Blob([readFileSync(path.join(REPO_ROOT, 'ci', 'smoke', 'plate.jpg'))], { type: 'image/jpeg' }), 'plate.jpg');
    const res = await fetch(`${server.url}/v1/read`, { method: 'POST', body: form });
    const body = (await res.json()) as { detections: { class: string; text?: string }[] };
    expect(res.status, JSON.stringify(body)).to.equal(200);
    expect(body.detections.map((d) => [d.class, d.text])).to.deep.include(['plate', PLATE_TEXT]);
  });

  it("passes the image's own HEALTHCHECK", async function () {
    this.timeout(30_000);
    const r = await run('podman', ['healthcheck', 'run', server.container.name], { env: podmanEnv() });
    expect(r.code, r.stdout + r.stderr).to.equal(0);
  });

  it('writes nothing outside its volumes: read-only root, /tmp left empty, no telemetry warning', async function () {
    this.timeout(30_000);
    // The root filesystem really is read-only for the server's user (else the rest proves little).
    const touch = await server.container.exec('touch', '/app/probe');
    expect(touch.code).to.not.equal(0);
    expect(touch.stderr).to.match(/Read-only file system/);
    expect(await server.container.diff()).to.deep.equal(baselineDiff);
    const tmp = await server.container.exec('find', '/tmp', '-mindepth', '1');
    expect(tmp.code, tmp.stderr).to.equal(0);
    expect(tmp.stdout.trim(), 'files the server left in /tmp').to.equal('');
    const logs = await server.container.logs();
    expect(logs).to.not.include(TELEMETRY_WARNING);
    expect(logs).to.not.match(/EROFS|read-only file system/i);
    // Every line is the server's JSON log; onnxruntime's own warnings would not be.
    const notJson = logs.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
    expect(notJson, 'log lines that are not the server\'s JSON').to.deep.equal([]);
  });

  it('contains only what the server needs: linux-x64 onnxruntime, no operator, client-node or dev dependencies', async function () {
    this.timeout(60_000);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const script = `
      const fs = require('node:fs');
      const napi = 'node_modules/onnxruntime-node/bin/napi-v6';
      const dirs = (d) => fs.existsSync(d) ? fs.readdirSync(d) : [];
      console.log(JSON.stringify({
        ort: dirs(napi).flatMap((os) => dirs(napi + '/' + os).map((cpu) => os + '/' + cpu)),
        present: ${JSON.stringify(['node_modules/@kubernetes/client-node', 'node_modules/typebox', 'dist/operator', 'dist/crds', 'operator', 'crds', ...Object.keys(pkg.devDependencies).map((d) => `node_modules/${d}`)])}.filter((p) => fs.existsSync(p)),
        caBundle: ['/etc/ssl/certs/ca-certificates.crt', '/run/secrets/ca'].filter((p) => fs.existsSync(p)),
      }));`;
    const out = JSON.parse(await podman('run', '--rm', ...RESTRICTED, '--entrypoint', 'node', images.images.server.ref, '-e', script)) as {
      ort: string[];
      present: string[];
      caBundle: string[];
    };
    expect(out.ort).to.deep.equal(['linux/x64']);
    expect(out.present).to.deep.equal([]);
    // The build's CA bundle is a build secret: never in the image.
    expect(out.caBundle).to.deep.equal([]);
  });

  it('is at most 200 MB (10^6 bytes) above its base', () => {
    const above = images.images.server.size - images.base.size;
    expect(above / 1e6).to.be.at.most(200);
  });

  it('drains the request in flight on SIGTERM and exits 0', async function () {
    this.timeout(90_000);
    // 42 megapixels: decoding and letterboxing keep the request busy long enough to be in flight.
    const big = await sharp({ create: { width: 7000, height: 6000, channels: 3, background: '#4a6' } }).jpeg().toBuffer();
    const inFlight = fetch(`${server.url}/v1/detect`, { method: 'POST', body: big, headers: { 'content-type': 'image/jpeg' } });
    await waitUntil('the request in flight', 30_000, async () => /visionops_http_requests_in_flight 1/.test(await (await fetch(`${server.url}/metrics`)).text()));
    await podman('kill', '--signal', 'TERM', server.container.name);
    const res = await inFlight;
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { width: number }).width).to.equal(7000);
    expect(await server.container.exited(60_000)).to.equal(0);
    const logs = await server.container.logs();
    expect(logs).to.include('shutdown complete');
  });
});

describe('@integration server image: the telemetry check above can fail', function () {
  let container: Container | undefined;
  after(async function () {
    this.timeout(30_000);
    await container?.remove();
  });

  it(`onnxruntime logs "${TELEMETRY_WARNING}" on a read-only root when ORT_DISABLE_TELEMETRY is not 1`, async function () {
    this.timeout(0);
    const images = await builtImages();
    const started = await startServer(images.images.server.ref, ['--env', 'ORT_DISABLE_TELEMETRY=0']);
    container = started.container;
    await waitReady(started.url, container, 60_000);
    await waitUntil('the telemetry warning', 20_000, async () => (await container!.logs()).includes(TELEMETRY_WARNING));
  });
});
