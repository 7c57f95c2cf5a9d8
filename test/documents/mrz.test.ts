import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { charValue, checkDigit, mrzDate, parseMrz, type DocumentType } from '../../inference-server/documents/mrz.js';
import { correctMrz, type PositionRead } from '../../inference-server/documents/mrz-correct.js';
import { pythonTool } from '../delivery/python-tools.js';

const TODAY = new Date(Date.UTC(2026, 5, 1));

// ICAO 9303 specimens: part 5 (TD1), part 6 (TD2), part 4 (TD3)
const TD1 = ['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'];
const TD2 = ['I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<', 'D231458907UTO7408122F1204159<<<<<<<6'];
const TD3 = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];

/** A read the recognizer is sure of, character by character. */
const certain = (lines: string[]): PositionRead[][] => lines.map((l) => [...l].map((ch) => [{ ch, p: 0.99 }]));

describe('MRZ (ICAO 9303)', () => {
  it('computes check digits as the specimens print them', () => {
    expect(checkDigit('D23145890')).to.equal('7');
    expect(checkDigit('740812')).to.equal('2');
    expect(checkDigit('120415')).to.equal('9');
    expect(checkDigit('L898902C3')).to.equal('6');
    expect(checkDigit('ZE184226B<<<<<')).to.equal('1');
    // TD1 composite: line 1 [5:30] + line 2 [0:7] + [8:15] + [18:29]
    expect(checkDigit(TD1[0]!.slice(5) + TD1[1]!.slice(0, 7) + TD1[1]!.slice(8, 15) + TD1[1]!.slice(18, 29))).to.equal('6');
  });

  it('parses the TD1 specimen', () => {
    const p = parseMrz(TD1, TODAY);
    expect(p.type).to.equal('TD1');
    expect(p.valid, p.problems.join('; ')).to.equal(true);
    expect(p.checks).to.deep.equal({ documentNumber: true, birthDate: true, expiryDate: true, optional: null, composite: true });
    expect(p.fields).to.deep.include({
      documentCode: 'I', issuingState: 'UTO', documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA',
      nationality: 'UTO', birthDate: '1974-08-12', sex: 'F', expiryDate: '2012-04-15',
    });
  });

  it('parses the TD2 and TD3 specimens', () => {
    const td2 = parseMrz(TD2, TODAY);
    expect(td2.valid, td2.problems.join('; ')).to.equal(true);
    expect(td2.type).to.equal('TD2');
    expect(td2.checks.optional).to.equal(null);
    expect(td2.fields).to.deep.include({ documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA', birthDate: '1974-08-12', expiryDate: '2012-04-15' });
    const td3 = parseMrz(TD3, TODAY);
    expect(td3.valid, td3.problems.join('; ')).to.equal(true);
    expect(td3.checks).to.deep.equal({ documentNumber: true, birthDate: true, expiryDate: true, optional: true, composite: true });
    expect(td3.fields).to.deep.include({ documentCode: 'P', documentNumber: 'L898902C3', nationality: 'UTO', sex: 'F', birthDate: '1974-08-12' });
    expect(td3.fields.optionalData).to.deep.equal(['ZE184226B']);
  });

  it('names each failing check', () => {
    const bad = [TD3[0]!, TD3[1]!.slice(0, 19) + '3' + TD3[1]!.slice(20)];
    const p = parseMrz(bad, TODAY);
    expect(p.valid).to.equal(false);
    expect(p.checks.birthDate).to.equal(false);
    expect(p.checks.composite).to.equal(false);
    expect(p.checks.documentNumber).to.equal(true);
    expect(p.problems).to.include('birth date check digit');
    const wrongKind = [TD1[0]!, 'O' + TD1[1]!.slice(1), TD1[2]!];
    expect(parseMrz(wrongKind, TODAY).problems.some((x) => x.includes('does not belong'))).to.equal(true);
  });

  it('is no valid MRZ when a state code is no state or the document code is not of its type, though every check digit holds', () => {
    // no check digit covers these: a misread line would otherwise pass as proven
    const qto = [TD3[0]!, TD3[1]!.slice(0, 10) + 'QTO' + TD3[1]!.slice(13)];
    const p = parseMrz(qto, TODAY);
    expect(p.checks).to.deep.include({ documentNumber: true, birthDate: true, expiryDate: true, composite: true });
    expect(p.valid).to.equal(false);
    expect(p.problems).to.include('nationality "QTO" is no state code');
    expect(parseMrz(['P<QQQ' + TD3[0]!.slice(5), TD3[1]!], TODAY).problems).to.include('issuing state "QQQ" is no state code');
    // a passport's code starts with P (ICAO 9303-4), a card's with A, C or I (9303-5, -6)
    expect(parseMrz(['I' + TD3[0]!.slice(1), TD3[1]!], TODAY).valid).to.equal(false);
    expect(parseMrz(['P' + TD1[0]!.slice(1), TD1[1]!, TD1[2]!], TODAY).valid).to.equal(false);
    expect(parseMrz(['C' + TD1[0]!.slice(1), TD1[1]!, TD1[2]!], TODAY).valid).to.equal(true);
  });

  it('is no valid MRZ when optional data starts with fillers and goes on after them, though its check digits hold', () => {
    // what stray marks at a line's end make of an empty personal number (test/fixtures/documents/td3-line-runs-on.jpg)
    const personal = '<<<<<<<<<<<C<2';
    const l2 = TD3[1]!.slice(0, 28) + personal + checkDigit(personal);
    const line = l2 + checkDigit(l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 43));
    const p = parseMrz([TD3[0]!, line], TODAY);
    expect(p.checks).to.deep.equal({ documentNumber: true, birthDate: true, expiryDate: true, optional: true, composite: true });
    expect(p.valid).to.equal(false);
    expect(p.problems).to.deep.equal(['optional data 1 "<<<<<<<<<<<C<2" does not start at its first position']);
    // written from its first position, the same characters are a personal number
    const left = 'C2<<<<<<<<<<<<';
    const l2b = TD3[1]!.slice(0, 28) + left + checkDigit(left);
    expect(parseMrz([TD3[0]!, l2b + checkDigit(l2b.slice(0, 10) + l2b.slice(13, 20) + l2b.slice(21, 43))], TODAY).valid).to.equal(true);
  });

  it('is no valid MRZ when its expiry date is further ahead than any document is issued for, though its check digits hold', () => {
    // the TD3 specimen with its expiry (120415) misread as 620415, every check digit made to agree,
    // as a correction can make one misread date agree one time in ten
    const td3With = (expiry: string) => {
      const l2 = TD3[1]!.slice(0, 21) + expiry + checkDigit(expiry) + TD3[1]!.slice(28, 43);
      return [TD3[0]!, l2 + checkDigit(l2.slice(0, 10) + l2.slice(13, 20) + l2.slice(21, 43))];
    };
    const far = parseMrz(td3With('620415'), TODAY);
    expect(far.checks).to.deep.equal({ documentNumber: true, birthDate: true, expiryDate: true, optional: true, composite: true });
    expect(far.valid).to.equal(false);
    // 2062 is 36 years ahead: taken as 1962, before the holder was born in 1974
    expect(far.problems).to.deep.equal(['expiry date 1962-04-15 is before the birth date 1974-08-12']);
    // ten years ahead is a document's usual validity
    const near = parseMrz(td3With('360415'), TODAY);
    expect(near.valid, near.problems.join('; ')).to.equal(true);
    expect(near.fields.expiryDate).to.equal('2036-04-15');
  });

  it('reads a document number longer than nine characters from the optional data (TD1, ICAO part 5 note j)', () => {
    // D23145890123: check digit over all twelve characters = 3 (7,3,1 weights: 223 mod 10)
    const l1 = 'I<UTOD23145890<1233<<<<<<<<<<<';
    const l2 = '7408122F1204159UTO<<<<<<<<<<<';
    const composite = checkDigit(l1.slice(5) + l2.slice(0, 7) + l2.slice(8, 15) + l2.slice(18, 29));
    const p = parseMrz([l1, l2 + composite, TD1[2]!], TODAY);
    expect(p.valid, p.problems.join('; ')).to.equal(true);
    expect(p.fields.documentNumber).to.equal('D23145890123');
    expect(p.fields.optionalData).to.deep.equal([]);
  });

  it('chooses the century of YYMMDD: births in the past, expiries at most 20 years ahead of today', () => {
    expect(mrzDate('740812', 'birth', TODAY)).to.equal('1974-08-12');
    expect(mrzDate('200101', 'birth', TODAY)).to.equal('2020-01-01');
    expect(mrzDate('260602', 'birth', TODAY)).to.equal('1926-06-02'); // tomorrow is not a birthday yet
    expect(mrzDate('260601', 'birth', TODAY)).to.equal('2026-06-01');
    expect(mrzDate('351231', 'expiry', TODAY)).to.equal('2035-12-31');
    expect(mrzDate('120415', 'expiry', TODAY)).to.equal('2012-04-15');
    expect(mrzDate('990101', 'expiry', TODAY)).to.equal('1999-01-01');
    expect(mrzDate('461231', 'expiry', TODAY)).to.equal('2046-12-31');
    expect(mrzDate('470101', 'expiry', TODAY)).to.equal('1947-01-01');
    expect(mrzDate('620101', 'expiry', TODAY)).to.equal('1962-01-01');
    expect(mrzDate('850231', 'birth', TODAY)).to.equal(null);
    expect(mrzDate('8513<<', 'birth', TODAY)).to.equal(null);
    expect(mrzDate('8503<<', 'birth', TODAY)).to.equal('1985-03');
    expect(mrzDate('85<<<<', 'birth', TODAY)).to.equal('1985');
  });
});

describe('MRZ correction from the recognizer\'s alternatives', () => {
  /** The specimen with one position read wrong, the right character among the alternatives. */
  const misread = (lines: string[], line: number, index: number, wrong: string, p = 0.6): PositionRead[][] => {
    const reads = certain(lines);
    reads[line]![index] = [{ ch: wrong, p }, { ch: lines[line]![index]!, p: 1 - p - 0.05 }, { ch: '<', p: 0.05 }];
    return reads;
  };

  it('leaves a valid read as it is', () => {
    const c = correctMrz('TD3', certain(TD3), TODAY);
    expect(c.parsed.valid).to.equal(true);
    expect(c.changed).to.equal(0);
    expect(c.parsed.lines).to.deep.equal(TD3);
  });

  it('takes O for 0 in a date for free (a letter cannot be there)', () => {
    const reads = certain(TD3);
    reads[1]![15] = [{ ch: 'O', p: 0.7 }, { ch: '0', p: 0.25 }];
    const c = correctMrz('TD3', reads, TODAY);
    expect(c.parsed.valid).to.equal(true);
    expect(c.parsed.fields.birthDate).to.equal('1974-08-12');
    expect(c.changed).to.equal(1);
  });

  it('fixes a letter/digit confusion in the document number that the check digit catches', () => {
    // L898902C3: read 8 as B (both allowed in a document number): only the check digit tells
    const c = correctMrz('TD3', misread(TD3, 1, 1, 'B'), TODAY);
    expect(c.read[1]!.slice(0, 9)).to.equal('LB98902C3');
    expect(c.parsed.valid).to.equal(true);
    expect(c.parsed.fields.documentNumber).to.equal('L898902C3');
    expect(c.ambiguous).to.equal(false);
  });

  it('uses the static confusables when the recognizer offers nothing better (S read for 5 in the document number)', () => {
    const reads = certain(TD1);
    reads[0]![10] = [{ ch: 'S', p: 0.8 }]; // D2314S890
    const c = correctMrz('TD1', reads, TODAY);
    expect(c.parsed.valid).to.equal(true);
    expect(c.parsed.fields.documentNumber).to.equal('D23145890');
  });

  it('repairs a wrong check digit and a wrong composite together', () => {
    const reads = misread(TD1, 1, 6, '8'); // birth check digit 2 read as 8
    reads[1]![29] = [{ ch: '5', p: 0.5 }, { ch: '6', p: 0.45 }];
    const c = correctMrz('TD1', reads, TODAY);
    expect(c.parsed.valid).to.equal(true);
    expect(c.parsed.lines).to.deep.equal(TD1);
    expect(c.changed).to.equal(2);
  });

  it('refuses when no alternative makes the checks pass', () => {
    const reads = certain(TD3);
    reads[1]![16] = [{ ch: '9', p: 0.99 }]; // 749812: nothing offered instead
    const c = correctMrz('TD3', reads, TODAY);
    expect(c.parsed.valid).to.equal(false);
    expect(c.parsed.checks.birthDate).to.equal(false);
  });

  it('reads a state or nationality that is no code as the code its alternatives make (HLD -> NLD), no check digit involved', () => {
    const nld = ['I<NLDNV90508440302891847<<<<<<', '5103113F3011227NLD<<<<<<<<<<<6', 'HUISMAN<<SANNE<<<<<<<<<<<<<<<<'];
    expect(parseMrz(nld, TODAY).valid).to.equal(true);
    const reads = certain(nld);
    reads[0]![2] = [{ ch: 'H', p: 0.7 }, { ch: 'N', p: 0.25 }]; // issuing state HLD
    reads[1]![15] = [{ ch: 'H', p: 0.9 }]; // nationality HLD, N only a static confusable of H
    const c = correctMrz('TD1', reads, TODAY);
    expect(c.read[0]!.slice(2, 5)).to.equal('HLD');
    expect(c.parsed.valid).to.equal(true);
    expect(c.parsed.fields.issuingState).to.equal('NLD');
    expect(c.parsed.fields.nationality).to.equal('NLD');
    expect(c.changed).to.equal(2);
  });

  it('keeps the decoded character where it fits, though another peaked higher in its frame (the decoder chose over the whole line)', () => {
    const reads = certain(TD3);
    reads[0]![40] = [{ ch: '<', p: 0.3 }, { ch: 'R', p: 0.6 }]; // a stray mark among the closing fillers
    reads[0]![41] = [{ ch: '<', p: 0.00001 }, { ch: 'L', p: 0.9 }];
    const c = correctMrz('TD3', reads, TODAY);
    expect(c.parsed.lines[0]).to.equal(TD3[0]);
    expect(c.changed).to.equal(0);
  });

  it('keeps a known code as read, and a code no alternative fixes (ICAO codes such as D and UTO are codes)', () => {
    const d = ['I<D<<T22000129<<<<<<<<<<<<<<<<', '6408125F2010315D<<<<<<<<<<<<<4', 'MUSTERMANN<<ERIKA<<<<<<<<<<<<<'];
    const asRead = correctMrz('TD1', certain(d), TODAY);
    expect(asRead.parsed.fields.issuingState).to.equal('D');
    expect(asRead.parsed.fields.nationality).to.equal('D');
    const reads = certain(TD3);
    reads[1]![10] = [{ ch: 'Q', p: 0.99 }]; // QTO: no alternative makes a code
    const qto = correctMrz('TD3', reads, TODAY).parsed;
    expect(qto.fields.nationality).to.equal('QTO');
    expect(qto.valid).to.equal(false);
    expect(correctMrz('TD3', certain(TD3), TODAY).parsed.fields.nationality).to.equal('UTO');
  });

  it('changes a position only the composite covers only when the recognizer found the change likelier than a coincidence', () => {
    // TD1 optional data (line 1, positions 16-30): no check digit of its own, only the composite
    const likely = certain(TD1);
    likely[0]![20] = [{ ch: '5', p: 0.65 }, { ch: '<', p: 0.3 }];
    const fixed = correctMrz('TD1', likely, TODAY);
    expect(fixed.parsed.valid).to.equal(true);
    expect(fixed.parsed.lines).to.deep.equal(TD1);
    const unlikely = certain(TD1);
    unlikely[0]![20] = [{ ch: '5', p: 0.9 }, { ch: '<', p: 0.05 }]; // '<' 18 times less likely: a change that passes one digit by chance is likelier
    const refused = correctMrz('TD1', unlikely, TODAY);
    expect(refused.parsed.valid).to.equal(false);
    expect(refused.parsed.checks.composite).to.equal(false);
  });

  it('refuses when two corrections fit equally well', () => {
    // L898902C3 or LB98902C3: the recognizer is torn at position 2 and offers, just as likely, the
    // check digit and composite that make either one valid
    const alt = 'LB98902C3';
    const l2 = TD3[1]!;
    const altLine = alt + checkDigit(alt) + l2.slice(10, 43);
    const altComposite = checkDigit(altLine.slice(0, 10) + altLine.slice(13, 20) + altLine.slice(21, 43));
    const reads = certain(TD3);
    reads[1]![1] = [{ ch: '8', p: 0.5 }, { ch: 'B', p: 0.5 }];
    reads[1]![9] = [{ ch: '6', p: 0.5 }, { ch: checkDigit(alt), p: 0.5 }];
    reads[1]![43] = [{ ch: '0', p: 0.5 }, { ch: altComposite, p: 0.5 }];
    expect(checkDigit(alt)).to.not.equal('6');
    // as read (the first choices) it is valid: nothing to correct, however torn
    expect(correctMrz('TD3', reads, TODAY).parsed.valid).to.equal(true);
    // make the first choice at position 2 a third glyph that fits neither: now two corrections fit
    reads[1]![1] = [{ ch: 'E', p: 0.34 }, { ch: '8', p: 0.33 }, { ch: 'B', p: 0.33 }];
    const c = correctMrz('TD3', reads, TODAY);
    expect(c.ambiguous).to.equal(true);
    expect(c.parsed.valid).to.equal(false);
  });
});

describe('MRZ against the PyPI mrz package (reference generator and checker)', function () {
  this.timeout(300_000);
  type Ref = {
    type: DocumentType; lines: string[]; checkerValid: boolean; number: string; state: string; nationality: string; birthDate: string;
    expiryDate: string; sex: string; surname: string; givenNames: string;
  };
  let refs: Ref[] = [];

  before(async () => {
    const bin = await pythonTool({ name: 'mrz', packages: ['mrz==0.6.2'] });
    const script = path.join(import.meta.dirname, 'mrz_reference.py');
    refs = JSON.parse(execFileSync(path.join(bin, 'python'), [script, '300', '7'], { encoding: 'utf8' })) as Ref[];
  });

  it('parses 300 generated MRZs (100 of each type) to the fields they were made from, all valid', () => {
    expect(refs).to.have.length(300);
    for (const r of refs) {
      expect(r.checkerValid).to.equal(true);
      const p = parseMrz(r.lines, TODAY);
      const what = `${r.type} ${r.lines.join(' / ')}`;
      expect(p.valid, `${what}: ${p.problems.join('; ')}`).to.equal(true);
      expect(p.type).to.equal(r.type);
      expect(p.fields.documentNumber, what).to.equal(r.number);
      expect(p.fields.issuingState, what).to.equal(r.state);
      expect(p.fields.nationality, what).to.equal(r.nationality);
      expect(p.fields.birthDate, what).to.equal(r.birthDate);
      expect(p.fields.expiryDate, what).to.equal(r.expiryDate);
      expect(p.fields.sex, what).to.equal(r.sex);
      expect(p.fields.surname, what).to.equal(r.surname.replace(/['-]/g, (c) => (c === '-' ? ' ' : '')));
      expect(p.fields.givenNames, what).to.equal(r.givenNames);
    }
  });

  it('finds every single-character substitution in a checked field (as the reference checker does)', () => {
    let tried = 0;
    for (const r of refs.slice(0, 60)) {
      const p = parseMrz(r.lines, TODAY);
      // change one character of the document number to a digit whose value differs by other than a
      // multiple of 10 (H and 7, 17 and 7, are the same to a check digit by design): a check must fail
      const line = r.type === 'TD1' ? 0 : 1;
      const at = r.type === 'TD1' ? 5 : 0;
      const ch = r.lines[line]![at]!;
      const other = String((charValue(ch) + 1) % 10);
      const lines = [...r.lines];
      lines[line] = lines[line]!.slice(0, at) + other + lines[line]!.slice(at + 1);
      expect(p.valid).to.equal(true);
      expect(parseMrz(lines, TODAY).valid, lines.join('/')).to.equal(false);
      tried++;
    }
    expect(tried).to.equal(60);
  });

  it('corrects generated MRZs read with confusable glyphs back to the reference', () => {
    // not G/6: they differ by 10, which no check digit sees (such a read passes as it is)
    const swaps: Record<string, string> = { '0': 'O', '1': 'I', '8': 'B', '5': 'S', '2': 'Z', O: '0', I: '1', B: '8', S: '5', Z: '2' };
    let corrected = 0;
    let refused = 0;
    for (const r of refs.slice(0, 90)) {
      const reads = certain(r.lines);
      // one confusable swap in the document number field, the truth second
      const line = r.type === 'TD1' ? 0 : 1;
      const start = r.type === 'TD1' ? 5 : 0;
      const k = [...r.lines[line]!.slice(start, start + 9)].findIndex((ch) => swaps[ch]);
      if (k < 0) continue;
      const truth = r.lines[line]![start + k]!;
      reads[line]![start + k] = [{ ch: swaps[truth]!, p: 0.7 }, { ch: truth, p: 0.25 }];
      const c = correctMrz(r.type, reads, TODAY);
      if (c.parsed.valid) {
        expect(c.parsed.lines, r.lines.join('/')).to.deep.equal(r.lines);
        corrected++;
      } else refused++;
    }
    expect(corrected).to.be.greaterThan(40);
    expect(refused).to.be.lessThan(corrected / 10);
  });
});
