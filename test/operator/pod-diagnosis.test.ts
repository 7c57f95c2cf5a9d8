import { expect } from 'chai';
import { diagnosePod } from '../../operator/status/pod-diagnosis.js';
import { crashingPod, fetchFailedPod, pod, readyPod } from './fixtures.js';

describe('pod diagnosis', () => {
  it('tells the stages of a healthy start apart', () => {
    expect(diagnosePod(pod('p', { phase: 'Pending' })).stage).to.equal('Pending');
    const downloading = pod('p', {
      phase: 'Pending',
      initContainerStatuses: [{ name: 'fetch-model', image: 'i', imageID: '', ready: false, restartCount: 0, state: { running: {} } }],
    });
    expect(diagnosePod(downloading)).to.deep.equal({ pod: 'p', stage: 'FetchingModel' });
    expect(diagnosePod(readyPod('p'))).to.deep.equal({ pod: 'p', stage: 'Ready' });
  });

  it('a missing Secret behind an env var is CreateContainerConfigError, with the kubelet message', () => {
    const p = pod('p', {
      phase: 'Pending',
      containerStatuses: [
        { name: 'server', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "api-key" not found' } } },
      ],
    });
    expect(diagnosePod(p).problem).to.deep.equal({ reason: 'CreateContainerConfigError', pod: 'p', message: 'container server: secret "api-key" not found' });
  });

  it('a fetch failure keeps its one-line message from the termination log', () => {
    const d = diagnosePod(fetchFailedPod('p'));
    expect(d.problem?.reason).to.equal('ModelFetchFailed');
    expect(d.problem?.message).to.equal(
      'fetch-model exit code 2 (Error): model fetch failed: model https://models.example.com/plates.onnx has sha256 bbbb, expected aaaa',
    );
  });

  it('a server that exits because it cannot serve its model is ModelLoadFailed with its own reason, also while it restarts', () => {
    const why = 'model load failed: cannot serve /models/model.onnx: protobuf parsing failed';
    const exited = { exitCode: 3, reason: 'Error', message: why };
    const terminated = pod('p', {
      phase: 'Running',
      containerStatuses: [{ name: 'server', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: exited } }],
    });
    const backingOff = pod('p', {
      phase: 'Running',
      containerStatuses: [
        { name: 'server', image: 'i', imageID: '', ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: exited } },
      ],
    });
    const retrying = pod('p', {
      phase: 'Running',
      containerStatuses: [{ name: 'server', image: 'i', imageID: '', ready: false, restartCount: 3, state: { running: {} }, lastState: { terminated: exited } }],
    });
    for (const p of [terminated, backingOff, retrying]) {
      expect(diagnosePod(p).problem).to.deep.equal({ reason: 'ModelLoadFailed', pod: 'p', message: why });
    }
    // Another crash (code 1) stays a crash loop.
    backingOff.status!.containerStatuses![0]!.lastState!.terminated!.exitCode = 1;
    expect(diagnosePod(backingOff).problem?.reason).to.equal('CrashLoopBackOff');
  });

  it('folds multi-line crash logs into one bounded line', () => {
    const p = crashingPod('p');
    p.status!.containerStatuses![0]!.lastState!.terminated!.message = `Error: boom\n    at load (/app/x.js:1:1)\n${'y'.repeat(5000)}`;
    const m = diagnosePod(p).problem!.message;
    expect(m).to.not.include('\n');
    expect(m).to.include('Error: boom | at load');
    expect(m.length).to.be.at.most(1024);
  });
});
