import { expect } from 'chai';
import { MRZ_SURE, MrzChoice } from '../../inference-server/documents/document-reader.js';

describe('choosing among the candidate reads of one MRZ', () => {
  const sure = MRZ_SURE + 0.01;
  const unsure = MRZ_SURE - 0.2;

  it('stops at a valid read the reader was sure of', () => {
    const c = new MrzChoice<string>();
    expect(c.offer('garbage', false, sure)).to.equal(false);
    expect(c.offer('right', true, sure)).to.equal(true);
    expect(c.best).to.equal('right');
  });

  it('goes on past a valid read it was unsure of, and reports the surest valid one', () => {
    const c = new MrzChoice<string>();
    expect(c.offer('valid, a name misread', true, unsure)).to.equal(false);
    expect(c.offer('invalid', false, sure)).to.equal(false);
    expect(c.offer('valid, surer', true, unsure + 0.1)).to.equal(false);
    expect(c.offer('valid, less sure', true, unsure - 0.1)).to.equal(false);
    expect(c.best).to.equal('valid, surer');
    expect(c.offer('valid and sure', true, sure)).to.equal(true);
    expect(c.best).to.equal('valid and sure');
  });

  it('reports the surest failing read when none is valid, and nothing before any read', () => {
    const c = new MrzChoice<string>();
    expect(c.best).to.equal(undefined);
    c.offer('first, garbage', false, unsure - 0.5);
    expect(c.best).to.equal('first, garbage');
    c.offer('second, a check digit off', false, unsure);
    c.offer('third, less sure', false, unsure - 0.1);
    expect(c.best).to.equal('second, a check digit off');
  });

  it('prefers any valid read to a surer failing one', () => {
    const c = new MrzChoice<string>();
    c.offer('failing, sure', false, sure);
    c.offer('valid, unsure', true, unsure);
    expect(c.best).to.equal('valid, unsure');
  });
});
