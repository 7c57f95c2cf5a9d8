import { expect } from 'chai';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, envOverrides, loadConfig } from '../../inference-server/config/load.js';
import { cgroupQuota } from '../../inference-server/inference/cpus.js';
import { parseByteSize } from '../../contract/server-config.js';

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visionops-config-'));
  });

  const file = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  it('reads YAML, fills defaults, and lets env and flags override in that order', async () => {
    const p = await file('ok.yaml', 'model:\n  path: /m/a.onnx\n  thresholds: {confidence: 0.4}\nserver:\n  port: 9000\n  bodyLimit: 5MiB\n');
    const c = loadConfig({ file: p, env: { PORT: '9100', VISIONOPS__OCR__WORKERS: '3', VISIONOPS__MODEL__THRESHOLDS__IOU: '0.6' }, overrides: { server: { port: 9200 } } });
    expect(c.model.path).to.equal('/m/a.onnx');
    expect(c.model.thresholds).to.deep.equal({ confidence: 0.4, iou: 0.6, maxDetections: 300 });
    expect(c.server.port).to.equal(9200);
    expect(c.server.bodyLimit).to.equal(5 * 2 ** 20);
    expect(c.ocr.workers).to.equal(3);
  });

  it('names every bad field in one message', async () => {
    const p = await file('bad.yaml', 'model:\n  path: x.onnx\n  thresholds: {iou: 3}\n  fromat: yolov5\nocr:\n  classes:\n    plate: {mode: sideways}\n');
    let err: Error | undefined;
    try {
      loadConfig({ file: p });
    } catch (e) {
      err = e as Error;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect(err!.message).to.include(p);
    expect(err!.message).to.include('model.thresholds.iou');
    expect(err!.message).to.include('fromat');
    expect(err!.message).to.include('ocr.classes.plate.mode');
  });

  it('refuses a missing model path, unreadable files and non-mapping YAML', async () => {
    expect(() => loadConfig({})).to.throw(ConfigError, 'model');
    expect(() => loadConfig({ file: join(dir, 'nope.yaml') })).to.throw(ConfigError, 'cannot read');
    const list = await file('list.yaml', '- a\n- b\n');
    expect(() => loadConfig({ file: list })).to.throw(ConfigError, 'mapping');
    const broken = await file('broken.yaml', 'model: {path: [\n');
    expect(() => loadConfig({ file: broken })).to.throw(ConfigError, 'not valid YAML');
  });

  it('reads the ID-document example: documents section with its defaults, archive off', () => {
    const c = loadConfig({ file: join(import.meta.dirname, '..', '..', 'examples', 'server', 'id-document.yaml') });
    expect(c.documents).to.deep.equal({
      mrzReader: 'models/mrz-reader.onnx', maxDocuments: 2, zoneConfidence: 0.25, archive: false,
    });
    expect(c.ocr.enabled).to.equal(false);
    expect(c.archive).to.equal(undefined);
    const bad = () => loadConfig({ overrides: { model: { path: 'm.onnx' }, documents: { maxDocuments: 0, fieldreader: 'x' } } });
    expect(bad).to.throw(ConfigError, 'documents.mrzReader');
    expect(bad).to.throw(ConfigError, 'documents.maxDocuments');
    expect(bad).to.throw(ConfigError, 'fieldreader');
  });

  it('refuses a health port equal to the API port, and reads it from the env', () => {
    expect(() => loadConfig({ env: { VISIONOPS__SERVER__HEALTH_PORT: '9000' }, overrides: { model: { path: 'm.onnx' }, server: { port: 9000 } } }))
      .to.throw(ConfigError, /server\.healthPort.*must differ from server\.port/);
    expect(loadConfig({ env: { VISIONOPS__SERVER__HEALTH_PORT: '9001' }, overrides: { model: { path: 'm.onnx' }, server: { port: 9000 } } }).server.healthPort).to.equal(9001);
    // Both chosen by the system: they cannot collide.
    expect(loadConfig({ overrides: { model: { path: 'm.onnx' }, server: { port: 0, healthPort: 0 } } }).server.healthPort).to.equal(0);
  });

  it('maps env vars to nested keys with typed values', () => {
    expect(envOverrides({ VISIONOPS__INFERENCE__INTRA_OP_THREADS: '2', VISIONOPS__OCR__ENABLED: 'false', LOG_LEVEL: 'debug', HOME: '/root' })).to.deep.equal({
      inference: { intraOpThreads: 2 },
      ocr: { enabled: false },
      logging: { level: 'debug' },
    });
  });

  it('parses byte sizes', () => {
    expect(parseByteSize('20MiB')).to.equal(20 * 2 ** 20);
    expect(parseByteSize('1.5 KB')).to.equal(1500);
    expect(() => parseByteSize('12 parsecs')).to.throw();
  });

  it('counts CPUs from the cgroup quota, not the host', () => {
    const files = (m: Record<string, string>) => (p: string) => m[p];
    expect(cgroupQuota(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' }))).to.equal(2);
    expect(cgroupQuota(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).to.equal(undefined);
    expect(cgroupQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '400000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }))).to.equal(4);
    expect(cgroupQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }))).to.equal(undefined);
  });
});
