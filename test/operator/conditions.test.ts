import { expect } from 'chai';
import type { ModelServiceStatus } from '../../crds/modelservice.js';
import { changedConditions, formatTime, mergeConditions, safeReason } from '../../operator/status/conditions.js';
import { computeStatus } from '../../operator/status/compute-status.js';
import { statusEqual } from '../../operator/status/status-equal.js';
import { config, crashingPod, deployment, modelService, readyPod, rolledOut } from './fixtures.js';

const T0 = new Date('2026-11-25T10:00:00.250Z');
const T1 = new Date('2026-11-25T10:05:00.000Z');

describe('conditions and status comparison', () => {
  it('writes times with whole seconds, as the apiserver stores them', () => {
    expect(formatTime(T0)).to.equal('2026-11-25T10:00:00Z');
    expect(formatTime('2026-11-25T10:00:00.999Z')).to.equal('2026-11-25T10:00:00Z');
  });

  it('keeps lastTransitionTime while the status stays, even when reason and message change', () => {
    const first = mergeConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'ModelFetching', message: 'downloading' }], 1, T0);
    expect(first[0]!.lastTransitionTime).to.equal('2026-11-25T10:00:00Z');
    const same = mergeConditions(first, [{ type: 'Ready', status: 'False', reason: 'ModelLoading', message: 'warming up' }], 2, T1);
    expect(same[0]).to.deep.equal({ type: 'Ready', status: 'False', observedGeneration: 2, lastTransitionTime: '2026-11-25T10:00:00Z', reason: 'ModelLoading', message: 'warming up' });
    const flipped = mergeConditions(same, [{ type: 'Ready', status: 'True', reason: 'ModelServing', message: 'serving' }], 2, T1);
    expect(flipped[0]!.lastTransitionTime).to.equal('2026-11-25T10:05:00Z');
  });

  it('reports which conditions changed status or reason, for Events', () => {
    const before = mergeConditions(undefined, [
      { type: 'Ready', status: 'False', reason: 'ModelFetching', message: 'a' },
      { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'b' },
    ], 1, T0);
    const after = mergeConditions(before, [
      { type: 'Ready', status: 'True', reason: 'ModelServing', message: 'a' },
      { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'changed text only' },
    ], 1, T1);
    expect(changedConditions(before, after).map((c) => c.type)).to.deep.equal(['Ready']);
    expect(changedConditions(undefined, after)).to.have.length(2);
  });

  it('only lets CamelCase reasons through', () => {
    expect(safeReason('FailedCreate', 'X')).to.equal('FailedCreate');
    expect(safeReason('failed create', 'X')).to.equal('X');
    expect(safeReason(undefined, 'X')).to.equal('X');
  });

  it('a recomputed status equals the stored one, so a steady state writes nothing', () => {
    const ms = modelService();
    const observed = { deployment: rolledOut(1), pods: [readyPod('plates-a')] };
    const stored = computeStatus(ms, observed, config, T0);
    // What the controller reads back: JSON, conditions possibly reordered.
    const readBack = JSON.parse(JSON.stringify(stored)) as ModelServiceStatus;
    readBack.conditions!.reverse();
    const again = computeStatus({ ...ms, status: readBack }, observed, config, T1);
    expect(statusEqual(again, readBack)).to.equal(true);
  });

  it('a crash-looping pod restarting again does not count as a change', () => {
    const ms = modelService();
    const d = deployment({ replicas: 1, updatedReplicas: 1 });
    const a = computeStatus(ms, { deployment: d, pods: [crashingPod('plates-a')] }, config, T0);
    const more = crashingPod('plates-a');
    more.status!.containerStatuses![0]!.restartCount = 9;
    const b = computeStatus({ ...ms, status: a }, { deployment: d, pods: [more] }, config, T1);
    expect(statusEqual(a, b)).to.equal(true);
  });

  it('notices a real change: a replica becoming ready', () => {
    const ms = modelService({ replicas: 2 });
    const a = computeStatus(ms, { deployment: rolledOut(2), pods: [readyPod('a'), readyPod('b')] }, config, T0);
    const fewer = deployment({ replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 }, { replicas: 2 });
    const b = computeStatus({ ...ms, status: a }, { deployment: fewer, pods: [readyPod('a')] }, config, T1);
    expect(statusEqual(a, b)).to.equal(false);
  });

  it('treats Date and string timestamps and absent fields alike', () => {
    const s: ModelServiceStatus = { replicas: 1, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-25T10:00:00Z', reason: 'ModelServing', message: '' }] };
    const withDate = { ...s, url: undefined, conditions: [{ ...s.conditions![0]!, lastTransitionTime: new Date('2026-11-25T10:00:00Z') as unknown as string }] };
    expect(statusEqual(s, withDate)).to.equal(true);
    expect(statusEqual(undefined, {})).to.equal(true);
    expect(statusEqual(s, { ...s, replicas: 2 })).to.equal(false);
  });
});
