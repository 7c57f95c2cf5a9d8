import { AppsV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { readState } from '../cluster/state.js';
import { installCrd, modelService, ModelServices, type OperatorProcess, spawnOperator } from './operator-harness.js';

/**
 * An API server outage, for real: the test control plane's kube-apiserver is frozen (SIGSTOP: it
 * accepts connections and answers nothing, the hardest case to notice) while operator processes
 * run against it. The operator must say so loudly while it lasts and when it ends; a leader that
 * cannot renew its lease must say why before it exits; and its restart must converge.
 */

const said = (p: OperatorProcess, message: string | RegExp) => p.lines.find((l) => (typeof message === 'string' ? l.message === message : message.test(String(l.message))));

describe('@integration operator through an API server outage', function () {
  this.timeout(240_000);
  const cluster = useCluster();
  const running: OperatorProcess[] = [];
  let apiserverPid: number | undefined;

  before(async function () {
    const state = cluster.logDir ? await readState(path.dirname(cluster.logDir)) : undefined;
    apiserverPid = state?.processes.find((p) => p.name === 'kube-apiserver')?.pid;
    // Against a cluster this run did not start there is no API server process to freeze.
    if (!apiserverPid) this.skip();
    await installCrd(cluster.kubeconfigPath);
  });

  afterEach(async function () {
    if (apiserverPid) process.kill(apiserverPid, 'SIGCONT');
    // The suites after this one need an API server that answers again (it refuses with 429 for a moment after waking).
    await waitUntil('the API server to answer', 60_000, () => cluster.kubeConfig.makeApiClient(CoreV1Api).listNamespace({ limit: 1 }).then(() => true, () => false));
    for (const p of running.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exit;
      if (this.currentTest?.state === 'failed') console.error(p.lines.slice(-40).map((l) => JSON.stringify(l)).join('\n'));
    }
  });

  /** The API server answers nothing for `ms`; it always wakes up again, whatever the test does meanwhile. */
  async function outage(ms: number, during: () => Promise<void> = async () => undefined): Promise<void> {
    process.kill(apiserverPid!, 'SIGSTOP');
    try {
      await Promise.all([sleep(ms), during()]);
    } finally {
      process.kill(apiserverPid!, 'SIGCONT');
    }
  }

  const deployment = (namespace: string, name: string) =>
    cluster.kubeConfig.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace }).catch(() => undefined);

  it('a leader that cannot renew says why and exits 1; restarted with the same identity it leads again and converges', async function () {
    const { namespace, kubeconfigPath, kubeConfig } = cluster;
    const a = spawnOperator(kubeconfigPath, namespace, 'op-a');
    running.push(a);
    await waitUntil('op-a to lead and sync', 60_000, async () => said(a, 'caches synced; reconciling') !== undefined);
    const ms = new ModelServices(kubeConfig, namespace);
    await ms.create(modelService('before'));
    await waitUntil('the Deployment of before', 30_000, async () => (await deployment(namespace, 'before')) !== undefined);

    // Default timing (15/10/2 s): the renew deadline passes during a 15 s outage.
    let exitedDuring: number | null | undefined;
    await outage(15_000, async () => {
      exitedDuring = await Promise.race([a.exit, sleep(14_000, undefined)]);
    });
    expect(exitedDuring, 'op-a exited during the outage').to.equal(1);
    expect(said(a, 'cannot reach the API server; retrying with backoff'), 'outage logged').to.include({ level: 'error' });
    const lost = said(a, /^LOST LEADERSHIP/)!;
    expect(lost.level).to.equal('error');
    expect(String(lost.why)).to.match(/lease .*visionops-operator-leader was not renewed for \d+ ms .*: last attempt failed: no answer within \d+ ms/);
    expect(said(a, /^exiting with code 1/)).to.include({ level: 'error', why: lost.why });

    // The pod's restart: same identity, so the lease it still holds is its own at once.
    const restarted = spawnOperator(kubeconfigPath, namespace, 'op-a');
    running.push(restarted);
    await waitUntil('the restart to lead', 30_000, async () => said(restarted, 'caches synced; reconciling') !== undefined);
    await ms.patchSpec('before', { replicas: 2 });
    await ms.create(modelService('after'));
    await waitUntil('both converged', 30_000, async () => (await deployment(namespace, 'before'))?.spec?.replicas === 2 && (await deployment(namespace, 'after')) !== undefined);
    const lease = await kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'visionops-operator-leader', namespace });
    expect(lease.spec?.holderIdentity).to.equal('op-a');
    restarted.child.kill('SIGTERM');
    expect(await restarted.exit).to.equal(0);
  });

  it('without leader election: logs the outage when it starts, while it lasts and when it ends, and reconciles after', async function () {
    const { namespace, kubeconfigPath, kubeConfig } = cluster;
    const p = spawnOperator(kubeconfigPath, namespace, 'solo', { VISIONOPS_LEADER_ELECT: 'false' });
    running.push(p);
    await waitUntil('sync', 60_000, async () => said(p, 'caches synced; reconciling') !== undefined);
    await outage(22_000);
    await waitUntil('the end of the outage to be logged', 30_000, async () => said(p, 'the API server answers again') !== undefined);
    const outageLines = p.lines.filter((l) => /API server/.test(String(l.message)));
    expect(outageLines.map((l) => l.message)).to.include.members(['cannot reach the API server; retrying with backoff', 'the API server is still unreachable', 'the API server answers again']);
    // Rate-limited: a 22 s outage is a handful of lines, not one per failed request.
    expect(outageLines.length).to.be.at.most(6);
    expect(Number(said(p, 'the API server answers again')!.downForMs)).to.be.at.least(10_000);
    expect(p.child.exitCode).to.equal(null);
    await new ModelServices(kubeConfig, namespace).create(modelService('afterwards'));
    await waitUntil('the Deployment of afterwards', 30_000, async () => (await deployment(namespace, 'afterwards')) !== undefined);
  });
});
