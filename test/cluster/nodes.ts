import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { waitUntil } from './probe.js';

/** kwok only manages Nodes carrying this annotation (see --manage-nodes-with-annotation-selector). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

export function kwokNodeName(i: number): string {
  return `kwok-node-${i}`;
}

/**
 * With a real node, kwok nodes carry this taint: ordinary workloads must land on the node that
 * runs them, and scale tests that want kwok's fake capacity tolerate it.
 */
export const KWOK_TAINT = { key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' } as const;

function kwokNode(name: string, index: number, tainted: boolean): V1Node {
  // Room for any test workload: the operator's pods request real-looking resources.
  const resources = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    metadata: {
      name,
      annotations: { [KWOK_NODE_ANNOTATION]: 'fake' },
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
    },
    // Without a real node, no taint: workloads under test must schedule without knowing the
    // nodes are fake.
    spec: tainted ? { taints: [{ ...KWOK_TAINT }] } : {},
    // Made-up addresses (nothing listens there) so tools that expect an InternalIP find one.
    status: {
      allocatable: resources,
      capacity: resources,
      addresses: [
        { type: 'InternalIP', address: `10.1.0.${index + 1}` },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

function schedulable(node: V1Node): boolean {
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  // The node lifecycle controller taints a node not-ready until it sees the Ready condition;
  // until it lifts that taint the scheduler still refuses the node.
  const blocked = (node.spec?.taints ?? []).some((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && t.key !== KWOK_TAINT.key);
  return ready && !blocked && !node.spec?.unschedulable;
}

export async function createKwokNodes(kc: KubeConfig, count: number, timeoutMs: number, opts: { tainted?: boolean } = {}): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const names = Array.from({ length: count }, (_, i) => kwokNodeName(i));
  for (const [i, name] of names.entries()) await core.createNode({ body: kwokNode(name, i, opts.tainted ?? false) });
  await waitUntil(`${count} kwok nodes to be Ready and untainted`, timeoutMs, async () => {
    const { items } = await core.listNode({});
    return names.every((n) => items.some((node) => node.metadata?.name === n && schedulable(node)));
  }, 500);
  return names;
}
