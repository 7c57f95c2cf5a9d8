import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, type KubernetesListObject, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { useCluster, waitUntil } from '../cluster/harness.js';
import { ResilientInformer } from '../../operator/kube/informer.js';
import { testLogger } from './operator-harness.js';

type Seen = { verb: 'add' | 'update' | 'delete'; name: string }[];

function recorder(seen: Seen) {
  return {
    add: (o: KubernetesObject) => seen.push({ verb: 'add', name: o.metadata?.name ?? '' }),
    update: (o: KubernetesObject) => seen.push({ verb: 'update', name: o.metadata?.name ?? '' }),
    delete: (o: KubernetesObject) => seen.push({ verb: 'delete', name: o.metadata?.name ?? '' }),
  };
}

describe('@integration informers that recover', function () {
  this.timeout(90_000);
  const cluster = useCluster();
  const informers: ResilientInformer<KubernetesObject>[] = [];

  afterEach(async function () {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  it('keep retrying while their resource does not exist, and sync once it does', async function () {
    // An operator started before its CRD is installed: every list fails with 404 until then.
    const group = `t${randomBytes(4).toString('hex')}.visionops.test`;
    const crdName = `widgets.${group}`;
    const ext = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi);
    const { namespace } = cluster;
    const seen: Seen = [];
    const restarts: string[] = [];
    const informer = new ResilientInformer<KubernetesObject>(
      {
        name: 'widgets',
        kubeConfig: cluster.kubeConfig,
        path: `/apis/${group}/v1/namespaces/${namespace}/widgets`,
        list: async () => (await custom.listNamespacedCustomObject({ group, version: 'v1', namespace, plural: 'widgets' })) as KubernetesListObject<KubernetesObject>,
        log: testLogger(),
        backoff: { initialMs: 100, maxMs: 400 },
        onRestart: (cause) => restarts.push(cause),
      },
      recorder(seen),
    );
    informers.push(informer);
    const synced = informer.start();
    await waitUntil('a few failed attempts', 10_000, async () => restarts.length >= 3);
    expect(informer.hasSynced).to.equal(false);

    try {
      await ext.createCustomResourceDefinition({
        body: {
          metadata: { name: crdName },
          spec: {
            group,
            names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
            scope: 'Namespaced',
            versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
          },
        },
      });
      await synced;
      expect(informer.hasSynced).to.equal(true);
      await waitUntil('the CRD to serve', 20_000, () =>
        custom.createNamespacedCustomObject({ group, version: 'v1', namespace, plural: 'widgets', body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' } } }).then(() => true, () => false),
      );
      await waitUntil('the add event', 10_000, async () => seen.some((e) => e.verb === 'add' && e.name === 'w1'));
      expect(informer.get('w1', namespace)).to.not.equal(undefined);
      expect(restarts.every((c) => c === 'error')).to.equal(true);
    } finally {
      await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
    }
  });

  it('replace a silent watch without repeating events, and miss no change around the replacement', async function () {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const { namespace } = cluster;
    const cm = (name: string): V1ConfigMap => ({ metadata: { name, labels: { suite: 'informer' } }, data: { v: '1' } });
    await core.createNamespacedConfigMap({ namespace, body: cm('before') });
    const seen: Seen = [];
    const restarts: string[] = [];
    const informer = new ResilientInformer<KubernetesObject>(
      {
        name: 'configmaps',
        kubeConfig: cluster.kubeConfig,
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        labelSelector: 'suite=informer',
        list: () => core.listNamespacedConfigMap({ namespace, labelSelector: 'suite=informer' }),
        log: testLogger(),
        watchdogMs: 300,
        onRestart: (cause) => restarts.push(cause),
      },
      recorder(seen),
    );
    informers.push(informer);
    await informer.start();
    // Quiet for several watchdog periods: each replacement relists, and must not re-announce 'before'.
    await waitUntil('three watchdog replacements', 10_000, async () => restarts.filter((c) => c === 'watchdog').length >= 3);
    expect(seen).to.deep.equal([{ verb: 'add', name: 'before' }]);

    // Changes while watches are being replaced every few hundred ms: each is seen exactly once.
    for (let i = 0; i < 5; i++) {
      await core.createNamespacedConfigMap({ namespace, body: cm(`during-${i}`) });
      await sleep(150);
    }
    await core.deleteNamespacedConfigMap({ name: 'before', namespace });
    await core.patchNamespacedConfigMap({ name: 'during-0', namespace, body: [{ op: 'replace', path: '/data/v', value: '2' }] });
    await waitUntil('every change', 10_000, async () => seen.length >= 8);
    await sleep(1000);
    const names = (verb: string) => seen.filter((e) => e.verb === verb).map((e) => e.name).sort();
    expect(names('add')).to.deep.equal(['before', 'during-0', 'during-1', 'during-2', 'during-3', 'during-4']);
    expect(names('delete')).to.deep.equal(['before']);
    expect(names('update')).to.deep.equal(['during-0']);
    expect(informer.list().map((o) => o.metadata?.name).sort()).to.deep.equal(['during-0', 'during-1', 'during-2', 'during-3', 'during-4']);
  });
});
