import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { rectify, type Quad } from '../../inference-server/documents/rectify.js';
import { FIXTURES } from '../server/helpers.js';

/**
 * The server rectifies documents as training/documents/views.py did for the models' training
 * (OpenCV warpPerspective, bilinear, 114 outside): same view size, the same pixels up to OpenCV's
 * 5-bit fixed-point interpolation weights (test/fixtures/make_document_fixtures.py made the files).
 */
describe('rectification parity with training/documents/views.py', () => {
  it('warps the fixture quadrilateral to the same view', async () => {
    const dir = join(FIXTURES, 'documents');
    const spec = JSON.parse(await readFile(join(dir, 'rectify.json'), 'utf8')) as { quad: Quad; width: number; height: number };
    const raw = (f: string) => sharp(join(dir, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const input = await raw('rectify-input.png');
    const expected = await raw('rectify-expected.png');
    const v = rectify(new Uint8Array(input.data), input.info.width, input.info.height, spec.quad);
    expect([v.width, v.height]).to.deep.equal([spec.width, spec.height]);
    expect([expected.info.width, expected.info.height]).to.deep.equal([spec.width, spec.height]);
    const diffs = Array.from(v.pixels, (p, i) => Math.abs(p - expected.data[i]!)).sort((a, b) => a - b);
    const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
    expect(mean).to.be.lessThan(0.3);
    expect(diffs[Math.floor(diffs.length * 0.999)]).to.be.at.most(2);
    expect(diffs[diffs.length - 1]).to.be.at.most(4);
  });
});
