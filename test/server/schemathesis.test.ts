import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pythonTool, SCHEMATHESIS } from '../delivery/python-tools.js';
import { MiB, ready, rssOf, run, sampleRss } from './server-process.js';

/**
 * schemathesis (pinned, from PyPI) fuzzes the real server process, started as `npm start` starts it
 * (bundled detector, plate reader, tesseract), from its own /openapi.json: every operation, valid
 * and invalid inputs, unknown methods, and stateful sequences along the document's links. Checks:
 * no 5xx (not_a_server_error), and every answer matches the documented schema of its status.
 *
 * Where the time goes (2 cores, ~4 min): most of it is schemathesis generating cases (hypothesis,
 * CPU-bound Python) on the cores the server also uses; the server's own time is ~70 s, half of it
 * decoding and reading the images schemathesis makes for the image bodies.
 */

const SEED = 20240917;
const EXAMPLES_PER_OPERATION = 120;

describe('schemathesis fuzzing of the real server against /openapi.json', function () {
  this.timeout(20 * 60_000);
  let p: ReturnType<typeof run>;
  let base: string;
  let bin: string;

  before(async () => {
    // First run: installs schemathesis into .cache/venvs (about 1.5 min with PyPI).
    bin = await pythonTool(SCHEMATHESIS);
    p = run(['--port', '0'], { VISIONOPS__SERVER__HOST: '127.0.0.1' });
  });
  after(() => p?.child.kill('SIGKILL'));

  it(`${EXAMPLES_PER_OPERATION} examples per operation, seeded: at least 2,000 cases, no failure, RSS under idle + 1 GiB`, async () => {
    base = await ready(p, 120_000);
    const idle = rssOf(p.child.pid!);
    const rss = sampleRss(p.child.pid!, 100);
    const dir = await mkdtemp(join(tmpdir(), 'visionops-schemathesis-'));
    const started = Date.now();
    const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      const child = spawn(
        join(bin, 'st'),
        ['run', `${base}/openapi.json`, '--checks', 'not_a_server_error,response_schema_conformance', '--max-examples', String(EXAMPLES_PER_OPERATION),
          '--seed', String(SEED), '--request-timeout', '60', '--no-color', '--report', 'ndjson', '--report-dir', dir],
        { cwd: dir, env: { ...process.env, PYTHONUNBUFFERED: '1', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      child.stdout.on('data', (b: Buffer) => (text += b.toString()));
      child.stderr.on('data', (b: Buffer) => (text += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, text }));
    });
    const peak = rss.stop();
    const counts = /(\d+) generated, (\d+) passed/.exec(out.text);
    const summary = out.text.slice(out.text.lastIndexOf('SUMMARY'));
    console.log(`      schemathesis: ${counts?.[0] ?? '?'} in ${Math.round((Date.now() - started) / 1000)} s; server RSS idle ${Math.round(idle / MiB)} MiB, peak ${Math.round(peak / MiB)} MiB`);
    expect(out.code, summary).to.equal(0);
    expect(counts, summary).to.not.equal(null);
    const [generated, passed] = [Number(counts![1]), Number(counts![2])];
    expect(generated).to.be.at.least(2000);
    expect(passed).to.equal(generated);
    expect(summary).to.not.match(/failed|errored/i);
    expect(peak - idle).to.be.below(1024 * MiB);
    expect(p.lines.filter((l) => l.message === 'unhandled error')).to.deep.equal([]);
  });
});
