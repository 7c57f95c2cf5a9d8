import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MODELS } from './helpers.js';
import { ready, run } from './server-process.js';

/**
 * The archive under SIGKILL: a server writing images as fast as four clients send them is killed
 * at a random moment, again and again. Meanwhile a reader lists the archive the whole time. Never
 * may it find an image without its sidecar, never may a file be partial, and every restart must
 * clear what the killed writer left (its temp files and a sidecar whose image never came).
 */

const ROUNDS = 8;

async function listing(dir: string): Promise<{ images: string[]; sidecars: Set<string>; temps: string[] }> {
  const images: string[] = [];
  const sidecars = new Set<string>();
  const temps: string[] = [];
  for (const shard of await readdir(dir).catch(() => [] as string[])) {
    for (const name of await readdir(join(dir, shard)).catch(() => [] as string[])) {
      const path = join(dir, shard, name);
      if (name.startsWith('.tmp')) temps.push(path);
      else if (name.endsWith('.json')) sidecars.add(name.slice(0, -5));
      else images.push(path);
    }
  }
  return { images, sidecars, temps };
}

const shaOf = (path: string) => path.slice(path.lastIndexOf('/') + 1).split('.')[0]!;

describe('archive: repeated SIGKILL of a writing server', function () {
  this.timeout(15 * 60_000);

  it(`${ROUNDS} kills mid-write: no image ever visible without its sidecar, no partial file, leftovers cleared at start`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'visionops-archive-kill-'));
    const env = { VISIONOPS_ARCHIVE_DIR: dir, VISIONOPS__OCR__ENABLED: 'false', VISIONOPS__SERVER__HOST: '127.0.0.1' };
    const args = ['--model', join(MODELS, 'yolov5-const.onnx'), '--port', '0'];
    // Noise does not compress: each image is ~1.4 MB, so a write (and its fsync) takes a while.
    const noise = randomBytes(800 * 600 * 3);
    let counter = 0;
    const image = () => {
      noise.writeUInt32LE(++counter, 0);
      return sharp(noise, { raw: { width: 800, height: 600, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    };
    const seenWithoutSidecar: string[] = [];
    let leftovers = 0;
    let loneSidecars = 0;
    let archived = 0;

    for (let round = 0; round <= ROUNDS; round++) {
      const p = run(args, env);
      try {
        await ready(p);
        // The killed writer's leftovers are gone before the server takes its first request.
        const start = await listing(dir);
        expect(start.temps, `round ${round}: temp files left at start`).to.deep.equal([]);
        expect([...start.sidecars].filter((sha) => !start.images.some((i) => shaOf(i) === sha)), `round ${round}: lone sidecars at start`).to.deep.equal([]);
        if (round === ROUNDS) break;

        let stop = false;
        const reader = (async () => {
          while (!stop) {
            const l = await listing(dir);
            // An image seen in the listing must have its sidecar now (it was written first).
            for (const img of l.images) {
              const sha = shaOf(img);
              const has = l.sidecars.has(sha) || (await stat(img.replace(/\.[a-z]+$/, '.json')).then(() => true, () => false));
              const still = await stat(img).then(() => true, () => false);
              if (!has && still) seenWithoutSidecar.push(img);
            }
          }
        })();
        const clients = Array.from({ length: 4 }, async () => {
          while (!stop) {
            const body = await image();
            const ok = await fetch(`${base(p)}/v1/detect`, { method: 'POST', body, headers: { 'content-type': 'image/png' } }).then((r) => r.ok, () => false);
            if (ok) archived++;
          }
        });
        await new Promise((r) => setTimeout(r, 600 + Math.random() * 1200));
        p.child.kill('SIGKILL');
        await p.exit;
        stop = true;
        await Promise.all([reader, ...clients]);

        const after = await listing(dir);
        leftovers += after.temps.length;
        for (const img of after.images) {
          const sha = shaOf(img);
          expect(after.sidecars.has(sha), `${img} has no sidecar after the kill`).to.equal(true);
          const bytes = await readFile(img);
          expect(createHash('sha256').update(bytes).digest('hex'), `${img} is whole`).to.equal(sha);
          const side = JSON.parse(await readFile(join(dir, sha.slice(0, 2), `${sha}.json`), 'utf8')) as { sha256: string; bytes: number };
          expect(side).to.include({ sha256: sha, bytes: bytes.length });
        }
        loneSidecars += [...after.sidecars].filter((sha) => !after.images.some((i) => shaOf(i) === sha)).length;
      } finally {
        p.child.kill('SIGKILL');
      }
    }
    console.log(`      ${archived} images archived over ${ROUNDS} kills; the kills left ${leftovers} temp files and ${loneSidecars} lone sidecars, all removed at the next start`);
    expect(seenWithoutSidecar).to.deep.equal([]);
    expect(archived).to.be.greaterThan(ROUNDS);
  });
});

function base(p: ReturnType<typeof run>): string {
  return `http://127.0.0.1:${p.lines.find((l) => l.message === 'listening')!.port as number}`;
}
