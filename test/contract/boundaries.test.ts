import { expect } from 'chai';
import { bundleOperator } from '../../operator/bundle.js';

describe('the operator and the server meet only in contract/', function () {
  this.timeout(60_000);

  it('bundles the operator without any of the server tree and without zod', async () => {
    const meta = await bundleOperator({ write: false });
    const inputs = Object.keys(meta.inputs);
    expect(inputs.filter((f) => f.startsWith('inference-server/'))).to.deep.equal([]);
    expect(inputs.filter((f) => /node_modules\/zod\//.test(f))).to.deep.equal([]);
    // What the operator does take from the contract: the pod layout, the defaults and the template grammar.
    expect(inputs).to.include.members(['contract/pod-layout.ts', 'contract/defaults.ts', 'contract/text-layout.ts']);
    expect(inputs).to.not.include('contract/server-config.ts');
  });
});
