import { expect } from 'chai';
import { FUSE_MIN_P, fuseNames } from '../../inference-server/documents/name-fusion.js';
import type { PositionRead } from '../../inference-server/documents/mrz-correct.js';
import { parseMrz } from '../../inference-server/documents/mrz.js';

const TODAY = new Date(Date.UTC(2026, 5, 1));
// ICAO 9303 part 5's TD1 specimen, its names misread in one letter (ANNA -> ANMA): still valid, since
// no check digit covers the names
const READ = ['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANMA<MARIA<<<<<<<<<<'];

/** The reader's alternatives: each character sure, but for `alts` (line, index) -> alternatives. */
function positions(lines: string[], alts: Record<string, PositionRead> = {}): PositionRead[][] {
  return lines.map((l, li) => [...l].map((ch, i) => alts[`${li}:${i}`] ?? [{ ch, p: 0.99 }, { ch: ch === '<' ? 'K' : '<', p: 0.005 }]));
}

describe('names fused from the MRZ and the visual zone', () => {
  it('takes the visual zone\'s letter where the MRZ reader offered it too', () => {
    expect(parseMrz(READ, TODAY).valid).to.equal(true);
    const pos = positions(READ, { '2:12': [{ ch: 'M', p: 0.6 }, { ch: 'N', p: 0.35 }] });
    const out = fuseNames('TD1', READ, pos, { surname: 'Eriksson', givenNames: 'Anna Maria' });
    expect(out.changed).to.equal(1);
    expect(out.lines[2]).to.equal('ERIKSSON<<ANNA<MARIA<<<<<<<<<<');
    expect(out.lines.slice(0, 2)).to.deep.equal(READ.slice(0, 2));
    const parsed = parseMrz(out.lines, TODAY);
    expect(parsed.valid).to.equal(true);
    expect(parsed.fields.givenNames).to.equal('ANNA MARIA');
  });

  it('keeps the MRZ\'s letter where its reader did not see the visual zone\'s (a mismatch, not a fix)', () => {
    const pos = positions(READ, { '2:12': [{ ch: 'M', p: 0.97 }, { ch: 'N', p: FUSE_MIN_P / 2 }] });
    expect(fuseNames('TD1', READ, pos, { surname: 'Eriksson', givenNames: 'Anna Maria' })).to.deep.equal({ lines: READ, changed: 0 });
    // a letter the reader never offered
    const other = positions(READ, { '2:12': [{ ch: 'M', p: 0.6 }, { ch: 'W', p: 0.35 }] });
    expect(fuseNames('TD1', READ, other, { surname: 'Eriksson', givenNames: 'Anna Maria' }).changed).to.equal(0);
  });

  it('changes nothing when the visual zone names another person or is missing', () => {
    const pos = positions(READ, { '2:12': [{ ch: 'M', p: 0.6 }, { ch: 'N', p: 0.35 }] });
    expect(fuseNames('TD1', READ, pos, { surname: 'Andersson', givenNames: 'Anna Maria' }).changed).to.equal(0);
    expect(fuseNames('TD1', READ, pos, { givenNames: 'Anna Maria' }).changed).to.equal(0);
    expect(fuseNames('TD1', READ, pos, {}).changed).to.equal(0);
  });

  it('compares only the surname when the given names were not read, and writes names as the MRZ does', () => {
    // TD3: the names on line 1 from position 5; the visual zone's Ö is OE in the MRZ
    const td3 = ['P<UTOGROENLUND<<ERIK<<<<<<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122M1204159ZE184226B<<<<<10'];
    const read = [td3[0]!.replace('GROENLUND', 'GROENIUND'), td3[1]!];
    const pos = positions(read, { '0:10': [{ ch: 'I', p: 0.5 }, { ch: 'L', p: 0.45 }] });
    const out = fuseNames('TD3', read, pos, { surname: 'Grönlund' });
    expect(out).to.deep.equal({ lines: td3, changed: 1 });
  });

  it('changes at most two letters', () => {
    const read = [READ[0]!, READ[1]!, 'ERIKSSOM<<AMMA<MARIA<<<<<<<<<<'];
    const alt: PositionRead = [{ ch: 'M', p: 0.5 }, { ch: 'N', p: 0.45 }];
    const pos = positions(read, { '2:7': alt, '2:11': alt, '2:12': alt });
    expect(fuseNames('TD1', read, pos, { surname: 'Eriksson', givenNames: 'Anna Maria' }).changed).to.equal(0);
  });
});
