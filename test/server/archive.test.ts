import { expect } from 'chai';
import { mkdtemp, readdir, readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ImageArchive, sha256Hex, tempOwner, thisWriter, writeAtomic } from '../../inference-server/archive/store.js';
import { MODELS, startTestServer } from './helpers.js';

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  return out.sort();
}

describe('image archive', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'visionops-archive-'));
  });

  it('stores the image content-addressed with a JSON sidecar of the result', async () => {
    const a = new ImageArchive({ dir, retentionDays: 30, maxBytes: 1e9 });
    const bytes = Buffer.from('fake jpeg bytes');
    const sha = sha256Hex(bytes);
    const e = await a.store(bytes, 'jpeg', { detections: [1, 2] });
    expect(e.sha256).to.equal(sha);
    expect(await tree(dir)).to.deep.equal([`${sha.slice(0, 2)}/${sha}.jpg`, `${sha.slice(0, 2)}/${sha}.json`]);
    expect(await readFile(e.imagePath)).to.deep.equal(bytes);
    const side = JSON.parse(await readFile(e.sidecarPath, 'utf8'));
    expect(side).to.include({ sha256: sha, format: 'jpeg', bytes: bytes.length });
    expect(side.result).to.deep.equal({ detections: [1, 2] });
  });

  it('the same image twice is one entry; the sidecar keeps the latest result', async () => {
    const a = new ImageArchive({ dir, retentionDays: 30, maxBytes: 1e9 });
    await a.store(Buffer.from('same'), 'png', { n: 1 });
    const e = await a.store(Buffer.from('same'), 'png', { n: 2 });
    expect(await tree(dir)).to.have.length(2);
    expect(JSON.parse(await readFile(e.sidecarPath, 'utf8')).result).to.deep.equal({ n: 2 });
  });

  it('never builds a path outside the directory', () => {
    const a = new ImageArchive({ dir, retentionDays: 30, maxBytes: 1e9 });
    for (const bad of ['../../etc/passwd', 'a'.repeat(64).replace(/^a/, '/'), '..' + 'a'.repeat(62), 'A'.repeat(64)]) {
      expect(() => a.pathFor(bad, 'jpg'), bad).to.throw();
    }
    expect(() => a.pathFor('a'.repeat(64), '../x')).to.throw();
    expect(a.pathFor('ab' + '0'.repeat(62), 'jpg')).to.equal(join(dir, 'ab', `ab${'0'.repeat(62)}.jpg`));
  });

  it('writes atomically: a failed write leaves neither a partial file nor a temp file', async () => {
    const target = join(dir, 'x.json');
    await mkdir(target); // a directory where the file should go makes the rename fail
    let failed = false;
    try {
      await writeAtomic(target, Buffer.from('{}'));
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
    expect((await readdir(dir)).filter((n) => n.startsWith('.tmp'))).to.deep.equal([]);
    await writeAtomic(join(dir, 'y.json'), Buffer.from('{"ok":true}'));
    expect(await readdir(dir)).to.have.members(['x.json', 'y.json']);
  });

  it('retention removes entries past their age, then the oldest until under the size cap', async () => {
    const a = new ImageArchive({ dir, retentionDays: 7, maxBytes: 4000 }) // room for three ~1.2 kB entries, not four;
    const now = Date.now();
    const entries: Awaited<ReturnType<ImageArchive['store']>>[] = [];
    for (let i = 0; i < 5; i++) entries.push(await a.store(Buffer.alloc(1000, i), 'jpeg', {}));
    const age = (e: (typeof entries)[number], days: number) =>
      Promise.all([e.imagePath, e.sidecarPath].map((p) => utimes(p, (now - days * 86_400_000) / 1000, (now - days * 86_400_000) / 1000)));
    await age(entries[0]!, 10); // expired
    await age(entries[1]!, 3);
    await age(entries[2]!, 2);
    await age(entries[3]!, 1);
    await age(entries[4]!, 0);
    // a crash-leftover temp file older than an hour is cleaned too
    const shard = join(dir, entries[4]!.sha256.slice(0, 2));
    await writeFile(join(shard, '.tmp-deadbeef'), 'x');
    await utimes(join(shard, '.tmp-deadbeef'), (now - 7_200_000) / 1000, (now - 7_200_000) / 1000);
    const r = await a.sweep(now);
    const left = await tree(dir);
    const has = (e: (typeof entries)[number]) => left.some((p) => p.includes(e.sha256));
    expect(has(entries[0]!), 'expired').to.equal(false);
    expect(has(entries[1]!), 'oldest over the cap').to.equal(false);
    expect([entries[2], entries[3], entries[4]].every((e) => has(e!))).to.equal(true);
    expect(r.bytes).to.be.at.most(4000);
    expect(left.some((p) => p.includes('.tmp'))).to.equal(false);
  });

  it("names its temp files after the writer (host, pid) and the sidecar says who wrote it", async () => {
    const a = new ImageArchive({ dir, retentionDays: 30, maxBytes: 1e9 });
    const e = await a.store(Buffer.from('who'), 'jpeg', {});
    expect(JSON.parse(await readFile(e.sidecarPath, 'utf8')).writer).to.deep.equal(thisWriter());
    expect(tempOwner(`.tmp.${thisWriter().host}.123.0a1b`)).to.deep.equal({ host: thisWriter().host, pid: 123 });
    expect(tempOwner('.tmp-0a1b')).to.equal(undefined);
  });

  it("at start removes this host's dead writers' temp files and lone sidecars, and nothing of live writers or other hosts", async () => {
    const me = thisWriter();
    const exited = spawn(process.execPath, ['-e', '']);
    await once(exited, 'exit');
    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const shard = join(dir, 'ab');
      await mkdir(shard, { recursive: true });
      const sha = (c: string) => `ab${c.repeat(62)}`;
      const files: Record<string, string> = {
        [`.tmp.${me.host}.${exited.pid}.00ff`]: 'dead writer of this host',
        [`.tmp.${me.host}.${me.pid}.01ff`]: 'this pid in an earlier life (a restarted container)',
        [`.tmp.${me.host}.${alive.pid}.02ff`]: 'a live writer of this host',
        [`.tmp.other-pod.${exited.pid}.03ff`]: 'another replica sharing the volume',
        [`${sha('1')}.json`]: JSON.stringify({ writer: { host: me.host, pid: exited.pid } }),
        [`${sha('2')}.json`]: JSON.stringify({ writer: { host: 'other-pod', pid: 7 } }),
        [`${sha('3')}.json`]: JSON.stringify({ writer: { host: me.host, pid: exited.pid } }),
        [`${sha('3')}.png`]: 'an entry',
      };
      for (const [name, text] of Object.entries(files)) await writeFile(join(shard, name), text);
      const removed = await new ImageArchive({ dir, retentionDays: 30, maxBytes: 1e9 }).init();
      expect(removed).to.deep.equal({ tempFiles: 2, loneSidecars: 1 });
      expect((await readdir(shard)).sort()).to.deep.equal(
        [`.tmp.${me.host}.${alive.pid}.02ff`, `.tmp.other-pod.${exited.pid}.03ff`, `${sha('2')}.json`, `${sha('3')}.json`, `${sha('3')}.png`].sort(),
      );
    } finally {
      alive.kill('SIGKILL');
    }
  });

  it('the server archives each accepted image and answers archived: true', async () => {
    const s = await startTestServer({ model: { path: join(MODELS, 'yolov5-const.onnx') }, archive: { dir } });
    try {
      const img = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#123456' } }).png().toBuffer();
      const r = await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(img).expect(200);
      expect(r.body.archived).to.equal(true);
      const sha = sha256Hex(img);
      expect(r.body.sha256).to.equal(sha);
      const stored = join(dir, sha.slice(0, 2), `${sha}.png`);
      expect((await stat(stored)).size).to.equal(img.length);
      const side = JSON.parse(await readFile(join(dir, sha.slice(0, 2), `${sha}.json`), 'utf8'));
      expect(side.result.requestId).to.equal(r.body.requestId);
      expect(side.result.detections).to.deep.equal(r.body.detections);
      // rejected input is not archived
      await request(s.url).post('/v1/detect').set('Content-Type', 'image/png').send(Buffer.from('junk')).expect(415);
      expect(await tree(dir)).to.have.length(2);
    } finally {
      await s.shutdown();
    }
  });
});
