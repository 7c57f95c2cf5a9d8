import { CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { EventRecorder } from '../../operator/kube/events.js';
import { makeClients } from '../../operator/kube/clients.js';
import { eventsFor, testLogger } from './operator-harness.js';

describe('@integration Kubernetes Events', function () {
  this.timeout(30_000);
  const cluster = useCluster();

  it('a repeated event raises the count of the first instead of piling up', async function () {
    const { namespace, kubeConfig } = cluster;
    const clients = await makeClients(kubeConfig);
    try {
      const recorder = new EventRecorder(clients.core, 'visionops-operator', 'test', testLogger());
      const cm = await kubeConfig.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace, body: { metadata: { name: 'flappy' } } });
      const involved = { apiVersion: 'v1', kind: 'ConfigMap', name: 'flappy', namespace, uid: cm.metadata?.uid as string };
      const crash = { type: 'Warning' as const, reason: 'CrashLoopBackOff', message: 'container server keeps crashing' };
      recorder.record(involved, crash);
      await recorder.flush();
      recorder.record(involved, crash);
      recorder.record(involved, { type: 'Normal', reason: 'Recovered', message: 'no longer degraded' });
      await recorder.flush();
      recorder.record(involved, crash);
      await recorder.flush();

      let events = await eventsFor(kubeConfig, namespace, 'flappy');
      await waitUntil('two events', 5_000, async () => (events = await eventsFor(kubeConfig, namespace, 'flappy')).length === 2);
      const byReason = Object.fromEntries(events.map((e) => [e.reason, e]));
      expect(byReason.CrashLoopBackOff).to.deep.include({ type: 'Warning', count: 3, message: 'container server keeps crashing', reportingComponent: 'visionops-operator' });
      expect(byReason.CrashLoopBackOff?.involvedObject).to.deep.include({ kind: 'ConfigMap', name: 'flappy', uid: cm.metadata?.uid });
      expect(byReason.Recovered?.count).to.equal(1);
    } finally {
      clients.close();
    }
  });
});
