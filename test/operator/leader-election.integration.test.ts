import { AppsV1Api, CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { installCrd, modelService, ModelServices, type OperatorProcess, spawnOperator, startOperator } from './operator-harness.js';

function messages(p: OperatorProcess): string[] {
  return p.output.flatMap((line) => {
    try {
      return [(JSON.parse(line) as { message: string }).message];
    } catch {
      return [];
    }
  });
}

describe('@integration leader election', function () {
  this.timeout(120_000);
  const cluster = useCluster();
  const processes: OperatorProcess[] = [];

  before(async function () {
    await installCrd(cluster.kubeconfigPath);
  });

  afterEach(async function () {
    for (const p of processes.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exit;
      if (this.currentTest?.state === 'failed') console.error(`--- ${p.identity} ---\n${p.output.slice(-30).join('\n')}`);
    }
  });

  async function lease(namespace: string): Promise<V1Lease | undefined> {
    return cluster.kubeConfig
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'visionops-operator-leader', namespace })
      .catch(() => undefined);
  }

  async function deploymentExists(namespace: string, name: string): Promise<boolean> {
    return cluster.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace }).then(() => true, () => false);
  }

  it('two operator processes: one leads, the other takes over within the lease duration when the leader is killed', async function () {
    const { namespace, kubeconfigPath, kubeConfig } = cluster;
    processes.push(spawnOperator(kubeconfigPath, namespace, 'op-a'), spawnOperator(kubeconfigPath, namespace, 'op-b'));
    let holder: string | undefined;
    await waitUntil('a leader', 60_000, async () => {
      holder = (await lease(namespace))?.spec?.holderIdentity;
      return holder === 'op-a' || holder === 'op-b';
    });
    const leader = processes.find((p) => p.identity === holder) as OperatorProcess;
    const standby = processes.find((p) => p.identity !== holder) as OperatorProcess;

    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('first'));
    await waitUntil('the leader to create the Deployment', 30_000, () => deploymentExists(namespace, 'first'));
    await waitUntil('the standby to notice the leader', 10_000, async () => messages(standby).includes('another instance leads'));
    expect(messages(standby)).to.not.include('became leader');

    // No goodbye: the standby only learns from the lease not being renewed.
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitUntil('the standby to take the lease', 30_000, async () => (await lease(namespace))?.spec?.holderIdentity === standby.identity);
    const failoverMs = Date.now() - killedAt;
    // At most the lease duration (15 s) plus one jittered retry period (up to 4.4 s).
    expect(failoverMs).to.be.lessThan(20_000);
    expect((await lease(namespace))?.spec?.leaseTransitions).to.equal(1);

    await ms.create(modelService('second'));
    await waitUntil('the new leader to create the Deployment', 30_000, () => deploymentExists(namespace, 'second'));

    // A graceful stop hands the lease back at once.
    standby.child.kill('SIGTERM');
    expect(await standby.exit).to.equal(0);
    expect((await lease(namespace))?.spec?.holderIdentity).to.equal('');
  });

  it('a leader that loses its lease stops reconciling', async function () {
    const { namespace, kubeConfig } = cluster;
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };
    const manager = await startOperator(kubeConfig, namespace, {
      leaderElection: { enabled: true, namespace, name: 'visionops-operator-leader', identity: 'victim', timing },
    });
    try {
      await waitUntil('leadership', 20_000, async () => manager.isLeader);
      const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
      // Someone else takes the lease over and keeps renewing it.
      let stealing = true;
      let stolen = 0;
      const thief = (async () => {
        while (stealing) {
          const l = await coordination.readNamespacedLease({ name: 'visionops-operator-leader', namespace });
          await coordination
            .replaceNamespacedLease({ name: 'visionops-operator-leader', namespace, body: { ...l, spec: { ...l.spec, holderIdentity: 'thief', renewTime: new V1MicroTime(), leaseDurationSeconds: 3 } } })
            .then(() => stolen++, () => undefined); // a 409 means the victim renewed in between: try again
          await sleep(200);
        }
      })();
      const reason = await Promise.race([manager.done, sleep(15_000, 'still running', { ref: false })]);
      stealing = false;
      await thief;
      expect(stolen).to.be.greaterThan(0);
      expect(reason).to.equal('leadership-lost');
      expect(manager.isLeader).to.equal(false);
      // It says why: another instance holds the lease.
      expect(manager.lostLeadershipBecause).to.match(/was not renewed for \d+ ms .*: thief holds the lease now/);

      await new ModelServices(kubeConfig, namespace).create(modelService('orphan'));
      await sleep(1500);
      expect(await deploymentExists(namespace, 'orphan')).to.equal(false);
    } finally {
      await manager.stop();
    }
  });
});
