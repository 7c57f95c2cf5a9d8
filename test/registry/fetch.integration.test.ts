/**
 * The fetch init container's code for registry models (`visionops-server fetch --uri models:/...`)
 * run as the process the pod runs, against a real MLflow tracking server whose basic-auth app
 * checks the credentials and whose artifact proxy serves the files.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../cluster/paths.js';
import { freePorts } from '../cluster/ports.js';
import { ADMIN, type MlflowServer, type Registered, RegistryFront, registerVersions, sharedMlflow } from './mlflow.js';

const MODELS = path.join(REPO_ROOT, 'test/fixtures/models');
const V5 = path.join(MODELS, 'yolov5-const.onnx');
const V8 = path.join(MODELS, 'yolov8-const.onnx');
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `visionops-server fetch ...` as a child process, with only the environment given (plus PATH). */
function fetchCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'inference-server/cli.ts', 'fetch', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('@integration visionops-server fetch against a real MLflow registry', function () {
  this.timeout(120_000);
  let mlflow: MlflowServer;
  let ok: Registered;
  let wrongHash: Registered;
  let none: Registered;
  let two: Registered;
  let dir: string;
  let creds: Record<string, string>;

  before(async function () {
    // First run: pip installs MLflow (minutes); the server and Python's imports take a while on a busy machine.
    this.timeout(900_000);
    mlflow = await sharedMlflow();
    [ok, wrongHash, none, two] = await registerVersions(mlflow, [
      { name: 'fetch-ok', files: [V5] },
      { name: 'fetch-wrong-hash', files: [V5], hashTag: sha(V8) },
      { name: 'fetch-none', files: [path.join(MODELS, 'manifest.json')] },
      { name: 'fetch-two', files: [V5, V8] },
    ]) as [Registered, Registered, Registered, Registered];
    creds = { MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_USERNAME: ADMIN.username, MLFLOW_TRACKING_PASSWORD: ADMIN.password };
  });

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'visionops-fetch-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('downloads the one .onnx of a version through the artifact proxy, checks its hash and writes it atomically', async () => {
    const dest = path.join(dir, 'models', 'model.onnx');
    const r = await fetchCli(['--uri', `models:/fetch-ok/${ok.version}`, '--sha256', ok.sha256, '--dest', dest], creds);
    expect(r.code, r.stderr).to.equal(0);
    expect(sha(dest)).to.equal(sha(V5));
    expect(readdirSync(path.dirname(dest))).to.deep.equal(['model.onnx']);
    expect(JSON.parse(r.stdout)).to.deep.include({ msg: 'model fetched', file: 'yolov5-const.onnx', sha256: ok.sha256, artifactUri: ok.source, attempts: 1 });
    // The registered source is the run's model/ directory, as training/tracking.py registers it.
    expect(ok.source).to.match(/^mlflow-artifacts:\/.*\/artifacts\/model$/);
  });

  it('fails with one clear line (exit 2) for refused credentials, without retrying', async () => {
    const dest = path.join(dir, 'model.onnx');
    const wrong = await fetchCli(['--uri', `models:/fetch-ok/${ok.version}`, '--dest', dest, '--backoff-ms', '10'], { ...creds, MLFLOW_TRACKING_PASSWORD: 'not-it' });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr.trim()).to.match(/^model fetch failed: models:\/fetch-ok\/\d+: the tracking server http:\/\/127\.0\.0\.1:\d+ refused the credentials \(HTTP 401/);
    expect(wrong.stderr).to.not.include('retrying');
    const anonymous = await fetchCli(['--uri', `models:/fetch-ok/${ok.version}`, '--dest', dest], { MLFLOW_TRACKING_URI: mlflow.url });
    expect(anonymous.code).to.equal(2);
    expect(anonymous.stderr).to.include('refused the credentials (HTTP 401').and.include('MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD');
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('refuses a file whose hash is not the version\'s onnx_sha256, leaving nothing behind', async () => {
    const dest = path.join(dir, 'model.onnx');
    const r = await fetchCli(['--uri', `models:/fetch-wrong-hash/${wrongHash.version}`, '--sha256', sha(V8), '--dest', dest], creds);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(`yolov5-const.onnx has sha256 ${sha(V5)}, expected ${sha(V8)} (the version's onnx_sha256 tag)`);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('names what it found when a version has no .onnx file or several', async () => {
    const dest = path.join(dir, 'model.onnx');
    const zero = await fetchCli(['--uri', `models:/fetch-none/${none.version}`, '--dest', dest], creds);
    expect(zero.code).to.equal(2);
    expect(zero.stderr).to.match(/no \.onnx file in its artifacts \(mlflow-artifacts:\/.*\/model\); found manifest\.json/);
    const several = await fetchCli(['--uri', `models:/fetch-two/${two.version}`, '--dest', dest], creds);
    expect(several.code).to.equal(2);
    expect(several.stderr).to.include('2 .onnx files in its artifacts (yolov5-const.onnx, yolov8-const.onnx); expected exactly one');
  });

  it('says when a version does not exist, and refuses an alias (the operator pins versions)', async () => {
    const dest = path.join(dir, 'model.onnx');
    const missing = await fetchCli(['--uri', 'models:/fetch-ok/999', '--dest', dest], creds);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('models:/fetch-ok/999: HTTP 404 RESOURCE_DOES_NOT_EXIST');
    const alias = await fetchCli(['--uri', 'models:/fetch-ok@champion', '--dest', dest], creds);
    expect(alias.code).to.equal(2);
    expect(alias.stderr).to.include('names an alias: the init container fetches a pinned version');
  });

  it('retries an unreachable server with backoff, then fails naming it', async () => {
    const [port] = await freePorts(1);
    const r = await fetchCli(['--uri', 'models:/fetch-ok/1', '--dest', path.join(dir, 'model.onnx'), '--retries', '2', '--backoff-ms', '20'], { ...creds, MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}` });
    expect(r.code).to.equal(2);
    expect(r.stderr.match(/^attempt \d failed .*; retrying in \d+ ms$/gm)).to.have.length(2);
    expect(r.stderr).to.match(/retrying in 20 ms[\s\S]*retrying in 40 ms/);
    expect(r.stderr).to.match(/model fetch failed: models:\/fetch-ok\/1: the tracking server http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/);
  });

  it('trusts a private CA for an https tracking server only when given it (NODE_EXTRA_CA_CERTS, as the pod sets it)', async () => {
    const front = new RegistryFront(mlflow.url);
    await front.start();
    try {
      const ca = path.join(dir, 'ca.crt');
      writeFileSync(ca, front.caPem);
      const dest = path.join(dir, 'model.onnx');
      const args = ['--uri', `models:/fetch-ok/${ok.version}`, '--sha256', ok.sha256, '--dest', dest, '--retries', '0'];
      const untrusted = await fetchCli(args, { ...creds, MLFLOW_TRACKING_URI: front.url });
      expect(untrusted.code).to.equal(2);
      expect(untrusted.stderr).to.match(/is unreachable \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
      const trusted = await fetchCli(args, { ...creds, MLFLOW_TRACKING_URI: front.url, NODE_EXTRA_CA_CERTS: ca });
      expect(trusted.code, trusted.stderr).to.equal(0);
      expect(sha(dest)).to.equal(ok.sha256);
    } finally {
      await front.stop();
    }
  });
});
