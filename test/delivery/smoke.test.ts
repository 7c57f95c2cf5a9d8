/**
 * ci/smoke.ts, the monitor stage's smoke test: against the real inference server (a fixture model
 * with a known, constant output), and logging to a real MLflow tracking server (PyPI `mlflow`,
 * started per run). The MLflow suite is "@integration": installing MLflow takes about a minute
 * the first time, so `npm run test:unit` leaves it out and `npm test` runs it.
 */
import { expect } from 'chai';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parse } from 'yaml';
import { imageSize, main, median, MlflowClient, optionsFrom, runSmoke, settingsFrom, type SmokeOptions } from '../../ci/smoke.js';
import { REPO_ROOT } from '../cluster/paths.js';
import { freePorts } from '../cluster/ports.js';
import { waitUntil } from '../cluster/probe.js';
import { MODELS, startTestServer } from '../server/helpers.js';
import type { RunningServer } from '../../inference-server/server.js';
import { MLFLOW, pythonTool } from './python-tools.js';

const SAMPLE = path.join(REPO_ROOT, 'ci/smoke/plate.jpg');
const SAMPLE_SHA = createHash('sha256').update(readFileSync(SAMPLE)).digest('hex');

function options(url: string, extra: Partial<SmokeOptions> = {}): SmokeOptions {
  return { ...optionsFrom({ SMOKE_URL: url, SMOKE_IMAGE: SAMPLE, SMOKE_ENDPOINT: 'detect', SMOKE_READY_TIMEOUT_MS: '10000' }), ...extra };
}

/** main() with its output captured: what the job log would show. */
async function runMain(argv: string[], env: Record<string, string | undefined>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, env, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err };
}

/** A port nothing listens on: taken from the kernel, then released. */
async function closedPort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

describe('smoke test script (ci/smoke.ts) against the real inference server', function () {
  this.timeout(60_000);
  let server: RunningServer;

  before(async () => {
    // Constant output: a plate and a card wherever the image is, whatever it shows.
    server = await startTestServer({ model: { path: path.join(MODELS, 'yolov5-const.onnx'), name: 'fixture', version: '7' } });
  });
  after(() => server?.shutdown());

  it('passes against a healthy server, checking hash, size, boxes and classes of every answer', async () => {
    const r = await runSmoke(options(server.url, { expectClass: 'plate', minDetections: 2, runs: 3 }));
    expect(r.failures).to.deep.equal([]);
    expect(r.passed).to.equal(true);
    expect(r.image).to.deep.include({ sha256: SAMPLE_SHA, width: 960, height: 540, contentType: 'image/jpeg' });
    expect(r.model).to.deep.include({ name: 'fixture', version: '7' });
    expect(r.classes).to.include.members(['plate', 'card']);
    expect(r.latenciesMs).to.have.length(3);
    expect(r.serverTotalMs).to.have.length(3);
    for (const ms of r.latenciesMs) expect(ms).to.be.greaterThan(0);
  });

  it('fails when the answer lacks what the environment expects (a class, a text, enough detections, speed)', async () => {
    const r = await runSmoke(options(server.url, { expectClass: 'dog', expectText: 'AB123CD', minDetections: 50, maxLatencyMs: 0 }));
    expect(r.passed).to.equal(false);
    expect(r.failures.join('\n')).to.match(/expected a dog, found card, plate/);
    expect(r.failures.join('\n')).to.match(/expected the text AB123CD, read nothing/);
    expect(r.failures.join('\n')).to.match(/expected at least 50 detections/);
    expect(r.failures.join('\n')).to.match(/median latency \d+ ms is over 0 ms/);
  });

  it('fails when the server never becomes ready, and when an endpoint answers with an error', async () => {
    const down = await runSmoke(options(`http://127.0.0.1:${await closedPort()}`, { readyTimeoutMs: 1500 }));
    expect(down.passed).to.equal(false);
    expect(down.failures[0]).to.match(/^\/readyz: not ready after 1500 ms/);

    // A body the server refuses (not an image): every request is an HTTP error, and says so.
    const dir = mkdtempSync(path.join(tmpdir(), 'smoke-'));
    try {
      const fake = path.join(dir, 'truncated.jpg');
      writeFileSync(fake, readFileSync(SAMPLE).subarray(0, 600));
      const r = await runSmoke(options(server.url, { imagePath: fake, runs: 2 }));
      expect(r.passed).to.equal(false);
      expect(r.failures).to.have.length(2);
      expect(r.failures[0]).to.match(/^request 1: HTTP 422: .*corrupt_image/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads image sizes from JPEG and PNG headers as sharp does', async () => {
    const jpeg = readFileSync(SAMPLE);
    expect(imageSize(jpeg)).to.deep.equal({ width: 960, height: 540 });
    const png = await sharp(jpeg).resize(333, 217).png().toBuffer();
    expect(imageSize(png)).to.deep.equal({ width: 333, height: 217 });
    const progressive = await sharp(jpeg).resize(301, 97).jpeg({ progressive: true }).toBuffer();
    const meta = await sharp(progressive).metadata();
    expect(imageSize(progressive)).to.deep.equal({ width: meta.width, height: meta.height });
    expect(imageSize(Buffer.from('RIFF0000WEBPVP8 '))).to.equal(undefined);
    expect(median([5, 1, 3])).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
  });

  it('takes its settings from flags over CI variables, and refuses bad ones with exit code 2', async () => {
    const env = settingsFrom(['--url', 'http://a:1', '--runs=5', '--require-mlflow'], { SMOKE_URL: 'http://ignored', SMOKE_RUNS: '2' });
    expect(optionsFrom(env)).to.deep.include({ url: 'http://a:1', runs: 5, endpoint: 'read', imagePath: 'ci/smoke/plate.jpg' });
    expect(env.SMOKE_REQUIRE_MLFLOW).to.equal('true');

    const noUrl = await runMain([], {});
    expect(noUrl.code).to.equal(2);
    expect(noUrl.err.join('\n')).to.match(/SMOKE_URL \(or --url\) is required/);
    expect((await runMain(['--url', 'ftp://x'], {})).code).to.equal(2);
    expect((await runMain(['--url', server.url, '--endpoint', 'classify'], {})).code).to.equal(2);
    // The CI job sets SMOKE_REQUIRE_MLFLOW: a monitor run that logs nowhere must not pass quietly.
    const noMlflow = await runMain(['--url', server.url], { SMOKE_REQUIRE_MLFLOW: 'true' });
    expect(noMlflow.code).to.equal(2);
    expect(noMlflow.err.join('\n')).to.match(/MLFLOW_TRACKING_URI is required/);
  });

  it('exits 3 when the smoke test passes but MLflow cannot be reached, 1 when the test itself fails', async () => {
    const mlflowDown = `http://127.0.0.1:${await closedPort()}`;
    const env = { SMOKE_IMAGE: SAMPLE, SMOKE_ENDPOINT: 'detect', MLFLOW_TRACKING_URI: mlflowDown };
    const passedUnlogged = await runMain(['--url', server.url], env);
    expect(passedUnlogged.code).to.equal(3);
    expect(passedUnlogged.err.join('\n')).to.match(/logging to MLflow failed/);
    const failed = await runMain(['--url', server.url, '--expect-class', 'dog'], env);
    expect(failed.code).to.equal(1);
    expect(JSON.parse(failed.out[0]!)).to.deep.include({ smoke: 'failed', passed: false });
  });

  it('runs as Node 22 runs it in the monitor job: erasable TypeScript only, no relative imports', function () {
    // The job runs `node --experimental-strip-types ci/smoke.ts` without npm ci; Node 20 here cannot
    // strip types, so tsc checks the file with the rule Node's stripping imposes.
    this.timeout(120_000);
    const source = readFileSync(path.join(REPO_ROOT, 'ci/smoke.ts'), 'utf8');
    expect(source.match(/^import .* from '\.{1,2}\//gm) ?? []).to.deep.equal([]);
    const tsc = spawnSync(
      path.join(REPO_ROOT, 'node_modules/.bin/tsc'),
      ['--noEmit', '--strict', '--erasableSyntaxOnly', '--module', 'nodenext', '--target', 'es2022', '--lib', 'es2023', '--types', 'node', '--skipLibCheck', 'ci/smoke.ts'],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(tsc.status, tsc.stdout + tsc.stderr).to.equal(0);
  });
});

describe('the monitor job\'s sample and default expectations, against the bundled plate detector', function () {
  // The server as the image runs it (`visionops-server serve`: the bundled model and the plate OCR
  // rule), started as a process; OCR workers and the model warm-up take a few seconds.
  this.timeout(120_000);
  let proc: ChildProcess | undefined;
  let url = '';

  before(async function () {
    proc = spawn(process.execPath, ['--import', 'tsx', 'inference-server/cli.ts', 'serve', '--port', '0'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await waitUntil('the server listens', 60_000, async () => {
      if (proc!.exitCode !== null) throw new Error(`the server exited with ${proc!.exitCode}:\n${log}`);
      url = /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1] ?? '';
      return url !== '';
    });
  });

  after(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  });

  it('finds the plate in ci/smoke/plate.jpg and reads it as the smoke jobs expect', async () => {
    const smoke = (parse(readFileSync(path.join(REPO_ROOT, '.gitlab-ci.yml'), 'utf8'), { logLevel: 'error' }) as { '.smoke': { variables: Record<string, string> } })['.smoke'].variables;
    expect(smoke.SMOKE_IMAGE).to.equal('ci/smoke/plate.jpg');
    const r = await runSmoke(optionsFrom({ ...smoke, SMOKE_URL: url, SMOKE_IMAGE: path.join(REPO_ROOT, smoke.SMOKE_IMAGE!) }));
    expect(r.failures).to.deep.equal([]);
    expect(r.endpoint).to.equal('read');
    expect(r.classes).to.deep.equal([smoke.SMOKE_EXPECT_CLASS]);
    expect(r.texts).to.deep.equal([smoke.SMOKE_EXPECT_TEXT]);
    expect(r.model?.name).to.equal('plate-detector');
  });
});

interface MlflowRun {
  info: { run_id: string; status: string; run_name: string; experiment_id: string };
  data: { metrics?: { key: string; value: number }[]; params?: { key: string; value: string }[]; tags?: { key: string; value: string }[] };
}

describe('@integration smoke test results in a real MLflow tracking server', function () {
  this.timeout(60_000);
  let server: RunningServer;
  let mlflow: ChildProcess | undefined;
  let mlflowLog = '';
  let trackingUri: string;
  let dir: string;

  before(async function () {
    // First run: pip installs MLflow into .cache/venvs (about a minute); then it is reused.
    this.timeout(900_000);
    const bin = await pythonTool(MLFLOW);
    dir = mkdtempSync(path.join(tmpdir(), 'visionops-mlflow-'));
    const [port] = await freePorts(1);
    trackingUri = `http://127.0.0.1:${port}`;
    mlflow = spawn(
      path.join(bin, 'mlflow'),
      ['server', '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--backend-store-uri', `sqlite:///${dir}/mlflow.db`, '--artifacts-destination', path.join(dir, 'artifacts')],
      // Its own process group: the server forks workers, and all of them must go in after().
      { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    mlflow.stdout!.on('data', (b: Buffer) => (mlflowLog += b.toString()));
    mlflow.stderr!.on('data', (b: Buffer) => (mlflowLog += b.toString()));
    try {
      await waitUntil('mlflow server /health', 120_000, () => fetch(`${trackingUri}/health`).then((r) => r.ok, () => false), 500);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${mlflowLog.slice(-3000)}`);
    }
    server = await startTestServer({ model: { path: path.join(MODELS, 'yolov5-const.onnx'), name: 'fixture', version: '7' } });
  });

  after(async function () {
    this.timeout(30_000);
    await server?.shutdown();
    if (mlflow?.pid && mlflow.exitCode === null) {
      const exited = new Promise((r) => mlflow!.once('exit', r));
      process.kill(-mlflow.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (mlflow.exitCode === null) process.kill(-mlflow.pid, 'SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function runsOf(experiment: string): Promise<MlflowRun[]> {
    const client = new MlflowClient(trackingUri);
    const id = await client.experimentId(experiment);
    const r = await client.call<{ runs?: MlflowRun[] }>('POST', 'runs/search', { experiment_ids: [id], order_by: ['attributes.start_time ASC'] });
    return r.runs ?? [];
  }

  const metric = (run: MlflowRun, key: string) => run.data.metrics?.find((m) => m.key === key)?.value;
  const param = (run: MlflowRun, key: string) => run.data.params?.find((p) => p.key === key)?.value;
  const tag = (run: MlflowRun, key: string) => run.data.tags?.find((t) => t.key === key)?.value;

  it('logs a passed smoke test as a FINISHED run with its latencies, answer and context', async () => {
    const env = {
      MLFLOW_TRACKING_URI: trackingUri,
      MLFLOW_EXPERIMENT_NAME: 'smoke-passed',
      SMOKE_IMAGE: SAMPLE,
      SMOKE_ENDPOINT: 'detect',
      SMOKE_REQUIRE_MLFLOW: 'true',
      // What GitLab sets in the monitor job.
      CI: 'true',
      CI_ENVIRONMENT_NAME: 'staging',
      CI_COMMIT_SHA: '0123456789abcdef0123456789abcdef01234567',
      CI_PIPELINE_URL: 'https://gitlab.example.com/visionops/visionops/-/pipelines/42',
      CI_JOB_URL: 'https://gitlab.example.com/visionops/visionops/-/jobs/4242',
    };
    const r = await runMain(['--url', server.url, '--runs', '4', '--expect-class', 'plate'], env);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out.join('\n')).to.match(new RegExp(`logged to ${trackingUri}/#/experiments/\\d+/runs/[0-9a-f]{32}`));

    const runs = await runsOf('smoke-passed');
    expect(runs).to.have.length(1);
    const run = runs[0]!;
    expect(run.info).to.deep.include({ status: 'FINISHED', run_name: 'smoke staging 01234567' });
    expect(metric(run, 'passed')).to.equal(1);
    expect(metric(run, 'failures')).to.equal(0);
    expect(metric(run, 'requests')).to.equal(4);
    expect(metric(run, 'detections')).to.be.at.least(2);
    expect(metric(run, 'latency_ms_p50')).to.be.greaterThan(0);
    expect(metric(run, 'latency_ms_max')).to.be.at.least(metric(run, 'latency_ms_p50')!);
    expect(metric(run, 'server_total_ms_p50')).to.be.greaterThan(0);
    expect(param(run, 'url')).to.equal(server.url);
    expect(param(run, 'image_sha256')).to.equal(SAMPLE_SHA);
    expect(param(run, 'model_name')).to.equal('fixture');
    expect(param(run, 'model_version')).to.equal('7');
    expect(tag(run, 'environment')).to.equal('staging');
    expect(tag(run, 'mlflow.source.git.commit')).to.equal(env.CI_COMMIT_SHA);
    expect(tag(run, 'mlflow.source.type')).to.equal('JOB');
    expect(tag(run, 'pipeline_url')).to.equal(env.CI_PIPELINE_URL);
    expect(tag(run, 'classes')).to.equal('card,plate');

    // Each request is one step of the latency_ms series.
    const history = await new MlflowClient(trackingUri).call<{ metrics: { step: number; value: number }[] }>(
      'GET',
      `metrics/get-history?run_id=${run.info.run_id}&metric_key=latency_ms`,
    );
    expect(history.metrics.map((m) => m.step).sort()).to.deep.equal([0, 1, 2, 3]);
  });

  it('logs a failed smoke test as a FAILED run that says why, in the same experiment as earlier runs', async () => {
    const env = { MLFLOW_TRACKING_URI: trackingUri, MLFLOW_EXPERIMENT_NAME: 'smoke-failed', SMOKE_IMAGE: SAMPLE, SMOKE_ENDPOINT: 'detect' };
    expect((await runMain(['--url', server.url], env)).code).to.equal(0);
    const failed = await runMain(['--url', server.url, '--expect-class', 'dog'], env);
    expect(failed.code).to.equal(1);

    const runs = await runsOf('smoke-failed');
    expect(runs.map((r) => r.info.status)).to.deep.equal(['FINISHED', 'FAILED']);
    const run = runs[1]!;
    expect(metric(run, 'passed')).to.equal(0);
    expect(metric(run, 'failures')).to.equal(1);
    expect(tag(run, 'mlflow.note.content')).to.match(/^failed: expected a dog/);
    expect(tag(run, 'environment')).to.equal('local');
  });

  it('logs a registry-served model against its version: run params, and the result as a tag on the version', async () => {
    // A version as the operator serves it: the server config's model.source names it.
    const client = new MlflowClient(trackingUri);
    await client.call('POST', 'registered-models/create', { name: 'smoke-plates' });
    // MLflow wants the version's source to belong to its run.
    const training = await client.call<{ run: { info: { run_id: string; artifact_uri: string } } }>('POST', 'runs/create', { experiment_id: await client.experimentId('smoke-training') });
    const { run_id: runId, artifact_uri: artifacts } = training.run.info;
    const mv = await client.call<{ model_version: { version: string } }>('POST', 'model-versions/create', { name: 'smoke-plates', source: `${artifacts}/model`, run_id: runId });
    const version = mv.model_version.version;
    const served = await startTestServer({ model: { path: path.join(MODELS, 'yolov5-const.onnx'), name: 'plates', version, source: `models:/smoke-plates/${version}` } });
    try {
      const env = { MLFLOW_TRACKING_URI: trackingUri, MLFLOW_EXPERIMENT_NAME: 'smoke-registry', SMOKE_IMAGE: SAMPLE, SMOKE_ENDPOINT: 'detect', CI: 'true', CI_ENVIRONMENT_NAME: 'staging' };
      const r = await runMain(['--url', served.url], env);
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(r.out.join('\n')).to.include(`smoke: tagged models:/smoke-plates/${version} visionops.smoke/staging`);
      const run = (await runsOf('smoke-registry'))[0]!;
      expect(param(run, 'registered_model_name')).to.equal('smoke-plates');
      expect(param(run, 'registered_model_version')).to.equal(version);
      expect(tag(run, 'model_source')).to.equal(`models:/smoke-plates/${version}`);
      const got = await client.call<{ model_version: { tags?: { key: string; value: string }[] } }>('GET', `model-versions/get?name=smoke-plates&version=${version}`);
      const smokeTag = got.model_version.tags?.find((t) => t.key === 'visionops.smoke/staging')?.value;
      expect(smokeTag).to.match(new RegExp(`^passed \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ run ${run.info.run_id}$`));
    } finally {
      await served.shutdown();
    }
  });
});
