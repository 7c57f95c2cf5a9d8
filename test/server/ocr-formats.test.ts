import { expect } from 'chai';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../inference-server/server.js';
import {
  alphabetOf,
  fillSlot,
  matchFormats,
  matchTemplate,
  readFromHocr,
  readFromText,
  type ReadChar,
} from '../../inference-server/ocr/formats.js';
import { parseTemplate, TemplateError } from '../../contract/text-layout.js';
import { expandCharset } from '../../inference-server/ocr/normalize.js';
import { validateConfig } from '../../inference-server/config/load.js';
import { MODELS, manifest, startTestServer } from './helpers.js';

const PLATES = alphabetOf(expandCharset('A-HJ-NPR-Z0-9-'));
const DEMO = ['LL-DDD-LL', "DDD 'TU' DDDD", 'DLLLDDD', 'LLDD LLL', 'DD-LLL-D'].map(parseTemplate);
const fit = (text: string) => matchFormats(readFromText(text), DEMO, PLATES);
/** A read with tesseract's alternatives: "A76,470" is A at 0.76 with 4 at 0.70 as alternative. */
const read = (spec: string): ReadChar[] =>
  spec.split(' ').map((pos) => ({
    choices: pos.split(',').map((c) => ({ ch: c[0]!, conf: c.length > 1 ? Number(c.slice(1)) / 100 : 1 })),
  }));

describe('OCR plate formats: templates', () => {
  it('parses slots, quoted fixed characters and separators', () => {
    expect(parseTemplate("DDD 'TU' DDDD")).to.deep.equal({
      source: "DDD 'TU' DDDD",
      length: 9,
      tokens: [
        { kind: 'slot', slot: 'digit' }, { kind: 'slot', slot: 'digit' }, { kind: 'slot', slot: 'digit' },
        { kind: 'sep', ch: ' ' }, { kind: 'fixed', ch: 'T' }, { kind: 'fixed', ch: 'U' }, { kind: 'sep', ch: ' ' },
        { kind: 'slot', slot: 'digit' }, { kind: 'slot', slot: 'digit' }, { kind: 'slot', slot: 'digit' }, { kind: 'slot', slot: 'digit' },
      ],
    });
    expect(parseTemplate('A.L/D').tokens.map((t) => t.kind)).to.deep.equal(['slot', 'sep', 'slot', 'sep', 'slot']);
    expect(parseTemplate('LL-DDD-LL').length).to.equal(7);
  });

  it('rejects templates it cannot read', () => {
    expect(() => parseTemplate("DD'TU")).to.throw(TemplateError, /unterminated quote/);
    expect(() => parseTemplate('LLX')).to.throw(TemplateError, /'X' is neither L, D, A nor a separator/);
    expect(() => parseTemplate('--')).to.throw(TemplateError, /no characters/);
    expect(() => parseTemplate("L''")).to.throw(TemplateError, /empty quotes/);
  });

  it('validates formats in the OCR class configuration', () => {
    const base = { model: { path: 'm.onnx' } };
    const ok = validateConfig({ ...base, ocr: { classes: { plate: { formats: ['LL-DDD-LL'] } } } }, 'test');
    expect(ok.ocr.classes.plate!.formats).to.deep.equal(['LL-DDD-LL']);
    expect(ok.ocr.classes.plate!.retry).to.equal(true);
    expect(() => validateConfig({ ...base, ocr: { classes: { plate: { formats: ['LLQ'] } } } }, 'test')).to.throw(/'Q' is neither/);
    expect(() => validateConfig({ ...base, ocr: { classes: { plate: { formats: [] } } } }, 'test')).to.throw();
  });

  it('takes the letters and digits of the charset, or any', () => {
    expect(PLATES.isLetter('A')).to.equal(true);
    expect(PLATES.isLetter('O')).to.equal(false); // not on these plates
    expect(PLATES.isDigit('0')).to.equal(true);
    expect(PLATES.isDigit('-')).to.equal(false);
    const any = alphabetOf(undefined);
    expect([any.isLetter('é'), any.isLetter('O'), any.isDigit('7'), any.isLetter('7')]).to.deep.equal([true, true, true, false]);
  });
});

describe('OCR plate formats: correction', () => {
  it('leaves a read that fits as it is, in the layout of its template', () => {
    expect(fit('AB123CD')).to.deep.include({ template: 'LL-DDD-LL', text: 'AB-123-CD', cost: 0, changed: 0, dropped: 0 });
    expect(fit('AB-123-CD')).to.deep.include({ template: 'LL-DDD-LL', text: 'AB-123-CD', cost: 0 });
    expect(fit('123TU4567')).to.deep.include({ template: "DDD 'TU' DDDD", text: '123 TU 4567', cost: 0 });
    expect(fit('7ABC123')).to.deep.include({ template: 'DLLLDDD', text: '7ABC123', cost: 0 });
    expect(fit('AB12 CDE')).to.deep.include({ template: 'LLDD LLL', text: 'AB12 CDE', cost: 0 });
    expect(fit('12-ABC-3')).to.deep.include({ template: 'DD-LLL-D', text: '12-ABC-3', cost: 0 });
  });

  it('coerces confusable glyphs position by position', () => {
    // digit slots: S->5, A->4, B->8, Z->2, G->6, T->7, D->0
    expect(fit('SMJL806')?.text).to.equal('5MJL806');
    expect(fit('6XHTA34')?.text).to.equal('6XHT434');
    expect(fit('TDRR825')?.text).to.equal('7DRR825');
    expect(fit('ZG30522')?.text).to.equal('ZG-305-ZZ');
    // letter slots: 2->Z, 8->B, 5->S, 0->D (O is not a plate letter), 4->A
    expect(fit('CF4042V')?.text).to.equal('CF-404-ZV');
    expect(fit('2565DRJ')?.text).to.equal('ZS65 DRJ');
    expect(fit('YR594Y8')?.text).to.equal('YR-594-YB');
    expect(fit('RD031Z0')?.text).to.equal('RD-031-ZD');
    expect(fit('21SHE4')?.text).to.equal('21-SHE-4');
    expect(fit('21SHEA')?.text).to.equal('21-SHE-4');
  });

  it('counts what it changed', () => {
    expect(fit('6XHTA34')).to.deep.include({ changed: 1, dropped: 0, cost: 1 });
  });

  it('never drops a character: a read with one too many fits no layout and stays as read', () => {
    // an unsure extra S between A and 8 (1ABA889 with an S): dropping it would fit DLLLDDD, but a
    // correction only substitutes
    expect(matchTemplate(read('1 A B A S40 8 8 9'), DEMO[2]!, PLATES)).to.equal(undefined);
    expect(matchFormats(read('1 A B A S40 8 8 9'), DEMO, PLATES)?.template).to.not.equal('DLLLDDD');
    expect(fit('T7JXP474')?.text).to.not.equal('7JXP474');
    // a separator read where the layout has none may go
    expect(matchTemplate(readFromText('7AB-C123'), DEMO[2]!, PLATES)).to.deep.include({ text: '7ABC123', dropped: 1 });
  });

  it('prefers the alternative tesseract offered over a confusion guess', () => {
    // position 5 was read A (0.76) with 4 (0.70) as the runner-up: a digit slot takes the 4 cheaply
    const m = matchTemplate(read('6 X H T A76,470 3 4'), DEMO[2]!, PLATES)!;
    expect(m.text).to.equal('6XHT434');
    expect(m.cost).to.be.closeTo(Math.log(0.77 / 0.71), 1e-9);
    // a weak runner-up is no better than the confusion table, which it backs up
    expect(matchTemplate(read('6 X H T A76,405 3 4'), DEMO[2]!, PLATES)!.cost).to.be.closeTo(0.8, 1e-9);
    // a digit slot read as H with 8 as a listed alternative takes the 8 (no table entry maps H)
    expect(fillSlot(read('H90,830')[0]!, 'digit', PLATES)).to.deep.equal({ ch: '8', cost: Math.log(0.91 / 0.31) });
    // nothing of the slot's kind: no fill
    expect(fillSlot(read('H90,N30')[0]!, 'digit', PLATES)).to.equal(undefined);
    // the table's target was listed by tesseract (even at 0): cheaper than a bare guess
    expect(fillSlot(read('S90,50')[0]!, 'digit', PLATES)!.cost).to.be.lessThan(fillSlot(read('S90')[0]!, 'digit', PLATES)!.cost);
  });

  it('replaces a misread fixed character, but never puts back a missing one', () => {
    expect(fit('123TV4567')).to.deep.include({ text: '123 TU 4567', changed: 1 });
    expect(matchTemplate(readFromText('123T4567'), DEMO[1]!, PLATES)).to.equal(undefined);
  });

  it('uses separators in the read as evidence but does not need them', () => {
    // 12 ABC 3 with the hyphens read: NL; a space where the UK layout has one is free too
    expect(fit('12-ABC-3')?.template).to.equal('DD-LLL-D');
    expect(matchTemplate(readFromText('AB12 CDE'), DEMO[3]!, PLATES)!.cost).to.equal(0);
    expect(matchTemplate(readFromText('AB12CDE'), DEMO[3]!, PLATES)!.cost).to.equal(0);
    // a separator where the template has none costs a little
    expect(matchTemplate(readFromText('7AB C123'), DEMO[2]!, PLATES)).to.deep.include({ text: '7ABC123', cost: 0.3 });
  });

  it('fits nothing when characters are missing or the read is too far off, and the caller keeps the read', () => {
    expect(fit('')).to.equal(undefined);
    expect(fit('590')).to.equal(undefined);
    expect(fit('XV891X')?.template).to.not.equal('LLDD LLL'); // a UK plate with a character lost cannot become one
    expect(matchTemplate(readFromText('ABCDEFG'), DEMO[0]!, PLATES)).to.not.equal(undefined); // fits at a high cost ...
    expect(fit('HHHHHHHHH')).to.equal(undefined); // ... but over the limit
  });

  it('chooses among templates by cost, the first listed on a tie', () => {
    const t = ['DDDD', 'LLLL'].map(parseTemplate);
    expect(matchFormats(readFromText('1234'), t, PLATES)?.template).to.equal('DDDD');
    expect(matchFormats(readFromText('ABCD'), t, PLATES)?.template).to.equal('LLLL');
    const tie = ['AAA', 'DDD'].map(parseTemplate);
    expect(matchFormats(readFromText('123'), tie, PLATES)?.template).to.equal('AAA');
  });
});

describe('OCR plate formats: reading tesseract hOCR', () => {
  const hocr = `<div class='ocr_page' id='page_1'>
   <span class='ocr_line' id='line_1_1' title="bbox 15 16 259 65">
    <span class='ocrx_word' id='word_1_1' title='bbox 15 16 150 65; x_wconf 28'>6A
     <span class='ocrx_cinfo' id='lstm_choices_1_1_1'>
      <span class='ocrx_cinfo' id='choice_1_1_1' title='x_confs 87.790657'>6</span>
      <span class='ocrx_cinfo' id='choice_1_1_2' title='x_confs 3.0348587'>G</span></span>
     <span class='ocrx_cinfo' id='lstm_choices_1_1_2'>
      <span class='ocrx_cinfo' id='choice_1_1_3' title='x_confs 76'>A</span>
      <span class='ocrx_cinfo' id='choice_1_1_4' title='x_confs 24'>4</span></span>
    </span>
    <span class='ocrx_word' id='word_1_2' title='bbox 160 16 259 65; x_wconf 50'>B&amp;
     <span class='ocrx_cinfo' id='lstm_choices_1_2_1'>
      <span class='ocrx_cinfo' id='choice_1_2_1' title='x_confs 90'>8</span></span>
    </span>
   </span></div>`;

  it('gives every character its alternatives, words joined by a separator', () => {
    const r = readFromHocr(hocr)!;
    expect(r.map((c) => c.choices.map((x) => `${x.ch}${Math.round(x.conf * 100)}`).join(','))).to.deep.equal([
      '688,G3',
      'A76,424',
      ' 100',
      // the groups do not line up with the word's text (2 characters, 1 group): the text, at the word's confidence
      'B50',
      '&50',
    ]);
  });

  it('has no read without words', () => {
    expect(readFromHocr("<div class='ocr_page'></div>")).to.equal(undefined);
    expect(readFromText('  AB  12 ').map((c) => c.choices[0]!.ch).join('')).to.equal('AB 12');
  });
});

/**
 * End to end: the constant fixture model reports a plate at (120,120)-(280,200) in a 640x480 image
 * (see ocr.test.ts); the plate drawn there in DejaVu Sans Mono is one tesseract (tesseract.js 7,
 * eng best_int) misreads: the O's of 0DOO000 come out as zeros.
 */
describe('POST /v1/read with plate formats', function () {
  this.timeout(60_000);
  let s: RunningServer;
  const plateBox = manifest().mappings.find((x) => x.original.width === 640)!.expected[0]!.box;

  async function scene(text: string): Promise<Buffer> {
    const w = plateBox.x2 - plateBox.x1;
    const h = plateBox.y2 - plateBox.y1;
    const svg = `<svg width="640" height="480" xmlns="http://www.w3.org/2000/svg">
      <rect width="640" height="480" fill="#3a4a5a"/>
      <rect x="${plateBox.x1}" y="${plateBox.y1}" width="${w}" height="${h}" rx="6" fill="#f4f4f0" stroke="#111" stroke-width="3"/>
      <text x="${plateBox.x1 + w / 2}" y="${plateBox.y1 + h / 2 + 11}" font-family="DejaVu Sans Mono" font-weight="bold" font-size="28" text-anchor="middle" fill="#111">${text}</text>
    </svg>`;
    return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
  }

  before(async () => {
    s = await startTestServer({
      model: { path: join(MODELS, 'yolov5-const.onnx') },
      ocr: {
        enabled: true,
        workers: 1,
        classes: { plate: { mode: 'line', charset: 'A-Z0-9-', normalize: { strip: ' -' }, formats: ['LL-DDD-LL', 'DLLLDDD'] } },
      },
    });
  });
  after(() => s?.shutdown());

  const read = async (text: string) =>
    (await request(s.url).post('/v1/read').set('Content-Type', 'image/jpeg').send(await scene(text)).expect(200)).body.detections as {
      class: string;
      text?: string;
      rawText?: string;
      textFormat?: string;
    }[];

  it('corrects the read to the template it fits, keeping what tesseract read', async () => {
    const detections = await read('0DOO000');
    expect(detections[0]).to.deep.include({ class: 'plate', rawText: '0D00000', text: '0DOO000', textFormat: 'DLLLDDD' });
    const cards = detections.filter((d) => d.class === 'card');
    expect(cards).to.not.be.empty;
    expect(cards.every((d) => d.text === undefined && d.textFormat === undefined)).to.equal(true);
  });

  it('leaves a read that fits as it was, and names its template', async () => {
    const [plate] = await read('AB-123-CD');
    expect(plate).to.deep.include({ text: 'AB123CD', textFormat: 'LL-DDD-LL' });
  });

  it('returns the read unchanged, without a template, when none fits', async () => {
    const [plate] = await read('42KM77');
    expect(plate).to.deep.include({ text: '42KM77' });
    expect(plate!.textFormat).to.equal(undefined);
  });
});
