import { expect } from 'chai';
import { hasFieldForm, mergeFields, trustedViz, VIZ_MIN_BOX_SCORE, VIZ_MIN_CONFIDENCE, vizValues } from '../../inference-server/documents/fields.js';
import { parseMrz } from '../../inference-server/documents/mrz.js';
import { mrzName, parseVizDate, parseVizNationality, parseVizSex, sameName } from '../../inference-server/documents/viz.js';

const TODAY = new Date(Date.UTC(2026, 5, 1));
const TD1 = ['I<UTOD231458907<<<<<<<<<<<<<<<', '7408122F1204159UTO<<<<<<<<<<<6', 'ERIKSSON<<ANNA<MARIA<<<<<<<<<<'];

describe('visual zone values', () => {
  it('writes names as an MRZ does (ICAO 9303 part 3 transliteration)', () => {
    expect(mrzName('Müller')).to.equal('MUELLER');
    expect(mrzName("D'Artagnan-Lebœuf")).to.equal('DARTAGNAN LEBOEUF');
    expect(mrzName('Łukasz Żółć')).to.equal('LUKASZ ZOLC');
    expect(mrzName('Céline, Marie')).to.equal('CELINE MARIE');
    expect(mrzName('STRAUß')).to.equal('STRAUSS');
    expect(mrzName('Ångström')).to.equal('AANGSTROEM');
  });

  it('takes a name as the same when the MRZ transliterates, drops the diacritic, or truncates', () => {
    expect(sameName('MÜLLER', 'MUELLER')).to.equal(true);
    expect(sameName('MÜLLER', 'MULLER')).to.equal(true);
    expect(sameName('ZOFIA WOJCIECH MAŁGORZATA', 'ZOFIA WOJCIECH MALGOR')).to.equal(true);
    expect(sameName('MÜLLER', 'MILLER')).to.equal(false);
    expect(sameName('ANNA', 'ANNA MARIA')).to.equal(false);
  });

  it('parses the date formats documents print, with a century for two-digit years', () => {
    expect(parseVizDate('12.03.1985', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('12 03 1985', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('12/03/1985', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('1985-03-12', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('12 MAR 1985', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('12 MARS/MAR 1985', 'birth', TODAY)).to.equal('1985-03-12');
    expect(parseVizDate('01 AOÛT/AUG 2031', 'expiry', TODAY)).to.equal('2031-08-01');
    expect(parseVizDate('12 AUG/AOUT 74', 'birth', TODAY)).to.equal('1974-08-12'); // ICAO's specimen
    expect(parseVizDate('15 APR 12', 'expiry', TODAY)).to.equal('2012-04-15');
    expect(parseVizDate('04 MÄR 1990', 'birth', TODAY)).to.equal('1990-03-04');
    expect(parseVizDate('31.02.1985', 'birth', TODAY)).to.equal(null);
    expect(parseVizDate('12 XYZ 1985', 'birth', TODAY)).to.equal(null);
    expect(parseVizDate('UTOPIAN', 'birth', TODAY)).to.equal(null);
  });

  it('reads sex and nationality as codes', () => {
    expect(parseVizSex('F')).to.equal('F');
    expect(parseVizSex('M/M')).to.equal('M');
    expect(parseVizSex('Q')).to.equal(null);
    expect(parseVizNationality('DEUTSCH')).to.equal('D');
    expect(parseVizNationality('Française')).to.equal('FRA');
    expect(parseVizNationality('ČESKÁ REPUBLIKA')).to.equal('CZE');
    expect(parseVizNationality('NLD')).to.equal('NLD');
    expect(parseVizNationality('MARTIAN')).to.equal(null);
  });

  it('turns the visual zone texts into MRZ-form values', () => {
    const v = vizValues({ surname: 'Eriksson', givenNames: 'Anna María', birthDate: '12 AUG 1974', sex: 'F', nationality: 'UTOPIAN', documentNumber: 'D 2314 5890' }, TODAY);
    expect(v).to.deep.equal({
      documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA', nationality: 'UTO', birthDate: '1974-08-12', sex: 'F',
      expiryDate: null, issuingState: null,
    });
  });
});

describe('fields from the MRZ and the visual zone', () => {
  it('takes a valid MRZ and lists where the visual zone disagrees', () => {
    const m = mergeFields(parseMrz(TD1, TODAY), { surname: 'ERIKSSON', givenNames: 'ANNA MARIA', birthDate: '12.08.1974', expiryDate: '15.04.2013', sex: 'F' }, TODAY);
    expect(m.fields).to.deep.equal({
      documentNumber: 'D23145890', surname: 'ERIKSSON', givenNames: 'ANNA MARIA', nationality: 'UTO', birthDate: '1974-08-12', sex: 'F',
      expiryDate: '2012-04-15', issuingState: 'UTO',
    });
    expect(Object.values(m.sources).every((s) => s === 'mrz')).to.equal(true);
    expect(m.mismatches).to.deep.equal([{ field: 'expiryDate', mrz: '2012-04-15', viz: '2013-04-15' }]);
  });

  it('takes no O, Q or 0 in a document number for a mismatch: the visual zone draws them alike, the check digit tells them apart', () => {
    const mrz = parseMrz(TD1, TODAY); // document number D23145890
    expect(mergeFields(mrz, { documentNumber: 'D2314589O' }, TODAY).mismatches).to.deep.equal([]);
    expect(mergeFields(mrz, { documentNumber: 'D2314589Q' }, TODAY).mismatches).to.deep.equal([]);
    // any other difference is one
    expect(mergeFields(mrz, { documentNumber: 'D23145B90' }, TODAY).mismatches).to.deep.equal([{ field: 'documentNumber', mrz: 'D23145890', viz: 'D23145B90' }]);
  });

  it('falls back to the visual zone when the MRZ fails its checks, keeping what its own check digits prove', () => {
    const broken = [TD1[0]!, TD1[1]!.slice(0, 14) + '0' + TD1[1]!.slice(15), TD1[2]!]; // expiry check digit wrong
    const parsed = parseMrz(broken, TODAY);
    expect(parsed.valid).to.equal(false);
    const m = mergeFields(parsed, { surname: 'Eriksson', givenNames: 'Anna', nationality: 'UTOPIAN' }, TODAY);
    expect(m.fields.surname).to.equal('ERIKSSON');
    expect(m.sources.surname).to.equal('viz');
    expect(m.fields.givenNames).to.equal('ANNA');
    expect(m.fields.documentNumber).to.equal('D23145890'); // its check digit holds
    expect(m.sources.documentNumber).to.equal('mrz');
    expect(m.fields.birthDate).to.equal('1974-08-12');
    expect(m.fields.expiryDate).to.equal(null); // its check digit fails, and the visual zone did not show it
    expect(m.fields.issuingState).to.equal(null);
    expect(m.mismatches).to.deep.equal([]);
  });

  it('has nothing but the visual zone without an MRZ', () => {
    const m = mergeFields(undefined, { documentNumber: 'X4RTBPFW4', expiryDate: '01 02 2031' }, TODAY);
    expect(m.fields.documentNumber).to.equal('X4RTBPFW4');
    expect(m.fields.expiryDate).to.equal('2031-02-01');
    expect(m.fields.surname).to.equal(null);
    expect(m.sources.surname).to.equal(null);
  });
});

describe('which visual-zone reads are trusted', () => {
  it('drops a read of the wrong form: a date or a name in the number\'s box, a number in a name\'s', () => {
    expect(hasFieldForm('documentNumber', 'D23145890')).to.equal(true);
    expect(hasFieldForm('documentNumber', '15.07.1987')).to.equal(false);
    expect(hasFieldForm('documentNumber', 'HANNAH')).to.equal(false);
    expect(hasFieldForm('documentNumber', 'Lucie')).to.equal(false);
    expect(hasFieldForm('surname', 'ERIKSSON')).to.equal(true);
    expect(hasFieldForm('surname', "D'ARTAGNAN-THOMAS")).to.equal(true);
    expect(hasFieldForm('givenNames', 'JHPHGZ34C')).to.equal(false);
    expect(hasFieldForm('birthDate', '12 AUG 1974')).to.equal(true);
  });

  it('keeps only reads the field reader and the detector were both sure of', () => {
    const sure = VIZ_MIN_CONFIDENCE;
    const box = VIZ_MIN_BOX_SCORE;
    const out = trustedViz([
      { field: 'surname', text: 'ERIKSSON', confidence: sure, boxScore: box },
      { field: 'givenNames', text: 'ANNA', confidence: sure - 0.01, boxScore: 0.9 },
      { field: 'documentNumber', text: 'D23145890', confidence: 0.99, boxScore: box - 0.01 },
      { field: 'birthDate', text: '12.08.1974', confidence: 0.99, boxScore: 0.8 },
    ]);
    expect(out.trusted).to.deep.equal({ surname: 'ERIKSSON', birthDate: '12.08.1974' });
    expect(Object.keys(out.texts)).to.have.length(4);
  });

  it('lets an untrusted read neither stand in for a field nor contradict the MRZ', () => {
    const { trusted } = trustedViz([
      { field: 'surname', text: 'ERIKSSQN', confidence: 0.5, boxScore: 0.9 },
      { field: 'expiryDate', text: '15 APR 2013', confidence: 0.5, boxScore: 0.9 },
    ]);
    const m = mergeFields(parseMrz(TD1, TODAY), trusted, TODAY);
    expect(m.mismatches).to.deep.equal([]);
    expect(m.fields.surname).to.equal('ERIKSSON');
  });
});
