import { expect } from 'chai';
import { decodeFixedLength, type LineGrammar } from '../../inference-server/documents/ctc-fixed.js';
import { cornersOf, documentsOf, fieldBoxes, mrzLines, type Found } from '../../inference-server/documents/document-reader.js';
import { mrzGrammar } from '../../inference-server/documents/mrz-grammar.js';
import { apply, homography, rectGeometry, rectify, type Quad } from '../../inference-server/documents/rectify.js';

/** Softmax-like rows: each frame puts `p` on one class and spreads the rest. */
function frames(seq: number[], classes: number, p = 0.9): Float32Array {
  const out = new Float32Array(seq.length * classes).fill((1 - p) / (classes - 1));
  seq.forEach((k, t) => (out[t * classes + k] = p));
  return out;
}

describe('fixed-length CTC decoding', () => {
  const alphabet = 'AB<'; // classes: 0 blank, 1 A, 2 B, 3 <
  it('returns the best path when it already has the length, with alternatives per character', () => {
    const r = decodeFixedLength(frames([1, 0, 2, 2, 0, 3], 4), 6, 4, alphabet, 3);
    expect(r!.positions.map((p) => p[0]!.ch).join('')).to.equal('AB<');
    expect(r!.positions[0]!.length).to.be.greaterThan(1);
  });

  it('splits a run of fillers the unconstrained path merged, to reach the known length', () => {
    // greedy reads "A<" (the fillers run together without a blank); the line has three characters
    const probs = frames([1, 3, 3, 3], 4);
    probs.set([0.35, 0.02, 0.03, 0.6], 2 * 4); // frame 2: a filler, but a blank is second
    const r = decodeFixedLength(probs, 4, 4, alphabet, 3);
    expect(r!.positions.map((p) => p[0]!.ch).join('')).to.equal('A<<');
  });

  it('merges when the unconstrained path has a character too many', () => {
    const r = decodeFixedLength(frames([1, 0, 1, 2], 4), 4, 4, alphabet, 2);
    expect(r!.positions.map((p) => p[0]!.ch).join('')).to.have.length(2);
  });

  it('places characters only where the masks allow: a stray mark before the first letter does not shift the line', () => {
    // frames: a stray B, then A < B < ; unconstrained, the four-character path is "BA<B"
    const probs = frames([2, 0, 1, 0, 3, 0, 2, 0, 3], 4);
    const free = decodeFixedLength(probs, 9, 4, alphabet, 4);
    expect(free!.positions.map((p) => p[0]!.ch).join('')).to.equal('BA<B');
    // position 0 may only be A (as a passport's only P): the B is absorbed, the line is read whole
    // one state: class k may be character n where allowed[n] holds it
    const grammar = (allowed: string[]) => ({ states: 1, next: Int16Array.from(allowed.flatMap((chars) => [-1, ...[...alphabet].map((c) => (chars.includes(c) ? 0 : -1))])) });
    const masked = decodeFixedLength(probs, 9, 4, alphabet, 4, 0, 4, grammar(['A', 'AB<', 'AB<', 'AB<']));
    expect(masked!.positions.map((p) => p[0]!.ch).join('')).to.equal('A<B<');
    expect(() => decodeFixedLength(probs, 9, 4, alphabet, 4, 0, 4, grammar(['A']))).to.throw(/grammar/);
  });

  it('reads names in their order under the MRZ grammar: no letters after the closing fillers', () => {
    // a passport's first line as a reader saw it: the separator's second filler faint, stray marks in the fillers
    const alpha = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<';
    const C = alpha.length + 1;
    const rows: [string, number][] = [];
    for (const ch of 'P<UTORIBEIRO') rows.push([ch, 0.9], ['', 0.9]);
    rows.push(['<', 0.9], ['', 0.45], ['<', 0.5]); // "<<", the second weakly
    for (const ch of 'LUIS<MARIA') rows.push([ch, 0.9], ['', 0.9]);
    for (let i = 0; i < 17; i++) rows.push(['<', 0.9], ['', 0.9]);
    for (const ch of 'RRL<') rows.push([ch, 0.6], ['', 0.9]);
    const probs = new Float32Array(rows.length * C);
    rows.forEach(([ch, p], t) => {
      const k = ch === '' ? 0 : alpha.indexOf(ch) + 1;
      probs.fill((1 - p) / (C - 2), t * C, (t + 1) * C);
      probs[t * C + k] = p;
      if (ch === '<' && p === 0.5) probs[t * C] = 0.45; // the faint filler: a blank nearly as likely
      else probs[t * C + alpha.indexOf('<') + 1] = Math.max(probs[t * C + alpha.indexOf('<') + 1]!, ch === '' ? 0 : 0.3); // every mark might be a filler
    });
    const read = (g?: LineGrammar) => decodeFixedLength(probs, rows.length, C, alpha, 44, 0, 4, g)!.positions.map((p) => p[0]!.ch).join('');
    expect(read()).to.equal('P<UTORIBEIRO<LUIS<MARIA<<<<<<<<<<<<<<<<<RRL<');
    // the stray marks were fillers; the faint second filler of the separator stays unread: the
    // grammar cannot tell a missed `<<` from a surname of three parts
    expect(read(mrzGrammar('TD3', alpha, 0)[0])).to.equal('P<UTORIBEIRO<LUIS<MARIA<<<<<<<<<<<<<<<<<<<<<');
  });

  it('keeps optional data that begins with a filler empty: a stray mark after it is read as a filler', () => {
    const alpha = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<';
    const C = alpha.length + 1;
    // each character sure at 0.9 in its frame, a blank after it
    const framesOf = (line: string) => frames([...line].flatMap((ch) => [alpha.indexOf(ch) + 1, 0]), C);
    const decode = (probs: Float32Array, g?: LineGrammar) => decodeFixedLength(probs, 88, C, alpha, 44, 0, 4, g)!.positions.map((p) => p[0]!.ch).join('');
    const grammar = mrzGrammar('TD3', alpha, 0)[1];
    // a passport's second line with no personal number; a mark at the end of the located line looks
    // like C among its fillers (the kind of read that once made `<<<<<<<<<<<C<2` pass its check digit)
    const empty = 'L898902C36UTO7408122F1204159<<<<<<<<<<<<<<<4';
    const probs = framesOf(empty);
    const t = 2 * 39;
    probs.fill(0.1 / (C - 1), t * C, (t + 1) * C);
    probs[t * C + alpha.indexOf('C') + 1] = 0.6;
    probs[t * C + alpha.indexOf('<') + 1] = 0.3;
    expect(decode(probs).slice(28, 42)).to.equal('<<<<<<<<<<<C<<');
    expect(decode(probs, grammar)).to.equal(empty);
    // a personal number that begins with a character keeps the fillers and characters after it
    const filled = 'L898902C36UTO7408122F1204159ZE184226B<<<<<10';
    expect(decode(framesOf(filled), grammar)).to.equal(filled);
  });

  it('reads a line the same after a larger one was decoded (its scratch is reused, not cleared)', () => {
    const small = () => decodeFixedLength(frames([2, 0, 1, 0, 3, 0, 2, 0, 3], 4), 9, 4, alphabet, 4);
    const before = small();
    const alpha = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<';
    const line = 'P<UTORIBEIRO<<LUIS<MARIA<<<<<<<<<<<<<<<<<<<<';
    const big = frames([...line].flatMap((ch) => [alpha.indexOf(ch) + 1, 0]), alpha.length + 1);
    const read = decodeFixedLength(big, 2 * line.length, alpha.length + 1, alpha, 44, 0, 4, mrzGrammar('TD3', alpha, 0)[0]);
    expect(read!.positions.map((p) => p[0]!.ch).join('')).to.equal(line);
    expect(small()).to.deep.equal(before);
  });

  it('refuses a length the frames cannot hold', () => {
    expect(decodeFixedLength(frames([1, 2], 4), 2, 4, alphabet, 3)).to.equal(null);
  });
});

describe('rectification', () => {
  it('maps the four corners where they belong and back', () => {
    const src: Quad = [[10, 20], [210, 35], [200, 160], [5, 140]];
    const dst: Quad = [[0, 0], [100, 0], [100, 60], [0, 60]];
    const h = homography(src, dst);
    src.forEach((p, i) => {
      const q = apply(h, p);
      expect(q[0]).to.be.closeTo(dst[i]![0], 1e-6);
      expect(q[1]).to.be.closeTo(dst[i]![1], 1e-6);
    });
  });

  it('sizes the view as training/documents/views.py does', () => {
    expect(rectGeometry([[0, 0], [856, 0], [856, 540], [0, 540]])).to.deep.equal({ width: 856, height: 540, margin: 34 });
    expect(rectGeometry([[0, 0], [300, 0], [300, 189], [0, 189]])).to.deep.equal({ width: 480, height: 302, margin: 19 });
    expect(rectGeometry([[0, 0], [2000, 0], [2000, 1408], [0, 1408]]).width).to.equal(1400);
  });

  it('warps a rotated document upright: a marked corner lands at the view\'s top-left', () => {
    // a 40x20 grey image with a white 4x4 square at the document's top-left corner, document rotated 90 degrees
    const w = 40;
    const h = 60;
    const px = new Uint8Array(w * h * 3).fill(60);
    for (let y = 10; y < 14; y++) for (let x = 36; x < 40; x++) px.set([255, 255, 255], (y * w + x) * 3);
    // document corners (tl, tr, br, bl) of a card held sideways: its top edge on the image's right edge
    const quad: Quad = [[40, 10], [40, 50], [20, 50], [20, 10]];
    const v = rectify(px, w, h, quad);
    const m = v.geometry.margin;
    const at = (x: number, y: number) => v.pixels[(y * v.width + x) * 3]!;
    expect(at(m + 30, m + 30)).to.be.greaterThan(200);
    expect(at(v.width - m - 3, v.height - m - 3)).to.be.lessThan(100);
    expect(at(m + 30, 0)).to.equal(114); // above the document: beyond the photo's right edge
  });
});

describe('document geometry from detections', () => {
  const f = (cls: string, score: number, x1: number, y1: number, x2: number, y2: number): Found => ({ class: cls, score, box: { x1, y1, x2, y2 } });

  it('keeps one document per place, best first', () => {
    const docs = documentsOf([f('td1', 0.6, 0, 0, 100, 60), f('td3', 0.9, 5, 2, 102, 63), f('td2', 0.8, 300, 300, 400, 370), f('plate', 0.99, 0, 0, 10, 10)], 4);
    expect(docs.map((d) => d.class)).to.deep.equal(['td3', 'td2']);
  });

  it('gives each visual-zone field its own box: a surname box also scored as given names stays the surname\'s', () => {
    const found = [
      f('surname', 0.9, 100, 40, 220, 52),
      f('given_names', 0.8, 101, 40, 221, 53), // the surname's line again
      f('given_names', 0.6, 100, 60, 200, 72), // the given names' own line
      f('document_number', 0.7, 300, 20, 380, 32),
      f('mrz_line', 0.95, 10, 200, 400, 215),
    ];
    const picked = fieldBoxes(found);
    expect(picked.map((p) => [p.field, p.box.y1, p.score])).to.deep.equal([['surname', 40, 0.9], ['documentNumber', 20, 0.7], ['givenNames', 60, 0.6]]);
    // with no other box of its own, a field goes unread rather than read from another field's box
    expect(fieldBoxes(found.filter((x) => x.score !== 0.6)).map((p) => p.field)).to.deep.equal(['surname', 'documentNumber']);
  });

  it('takes the corners inside the document and completes a missing one', () => {
    const doc = f('td1', 0.9, 100, 100, 300, 230);
    const found = [
      f('corner_tl', 0.9, 95, 95, 105, 105), f('corner_tr', 0.8, 295, 105, 305, 115), f('corner_br', 0.7, 285, 225, 295, 235),
      f('corner_tl', 0.95, 500, 500, 510, 510), // another document's
    ];
    const q = cornersOf(doc, found);
    expect(q[0]).to.deep.equal([100, 100]);
    expect(q[3]).to.deep.equal([100 + 290 - 300, 100 + 230 - 110]); // tl + br - tr
  });

  it('falls back to the box with fewer than three corners', () => {
    expect(cornersOf(f('td1', 0.9, 10, 20, 30, 40), [])).to.deep.equal([[10, 20], [30, 20], [30, 40], [10, 40]]);
  });

  it('orders MRZ lines top to bottom, one per row', () => {
    const lines = mrzLines([f('mrz_line', 0.9, 10, 200, 500, 220), f('mrz_line', 0.8, 10, 160, 500, 180), f('mrz_line', 0.5, 12, 201, 498, 221), f('mrz_line', 0.7, 10, 240, 500, 260)]);
    expect(lines.map((l) => l.box.y1)).to.deep.equal([160, 200, 240]);
  });
});
