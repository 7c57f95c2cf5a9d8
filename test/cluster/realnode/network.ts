/**
 * The real node's network: one network namespace joined to the host by a veth pair. Everything
 * the node runs (kubelet, containerd, kube-proxy, the pods behind it) lives in that namespace or
 * in pod namespaces below it, so its iptables rules and interfaces never touch the host's.
 *
 * The host keeps two routes through the veth (Service ClusterIPs and pod IPs), which vanish with
 * the interface. The namespace has no default route: pods reach the node, the host end of the
 * veth (where the API server listens) and each other, and nothing else.
 */
import { access } from 'node:fs/promises';
import { runCommand } from '../command.js';

/** At most this many real nodes side by side on one machine (one per cluster). */
const MAX_NODES = 32;

export interface NodeNetwork {
  /** Index that keeps names and ranges of side-by-side clusters apart. */
  index: number;
  /** Name under /run/netns. */
  netns: string;
  hostVeth: string;
  nodeVeth: string;
  /** Host end of the veth: the API server also listens here. */
  hostIp: string;
  /** The node's InternalIP. */
  nodeIp: string;
  podCidr: string;
  /** cni0's address: the pods' gateway. */
  podGateway: string;
}

/** Addresses of node `index`: 10.200.i.0/30 for the veth, 10.201.i.0/24 pods, 10.202.i.0/24 Services. */
export function nodeNetwork(index: number): NodeNetwork {
  return {
    index,
    netns: `visionops-node-${index}`,
    hostVeth: `vo${index}-host`,
    nodeVeth: `vo${index}-node`,
    hostIp: `10.200.${index}.1`,
    nodeIp: `10.200.${index}.2`,
    podCidr: `10.201.${index}.0/24`,
    podGateway: `10.201.${index}.1`,
  };
}

/** The ClusterIP range of a real-node cluster, routed from the host into the node. */
export function realNodeServiceCidr(index: number): string {
  return `10.202.${index}.0/24`;
}

export function ip(args: string[]): Promise<string> {
  return runCommand('ip', args);
}

/** Runs a command inside the node's network namespace only (the host's mounts). */
export function inNetns(netns: string, cmd: string, args: string[]): Promise<string> {
  return runCommand('ip', ['netns', 'exec', netns, cmd, ...args]);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

/**
 * Claims the first free index by creating its namespace: `ip netns add` fails when the name is
 * taken, which makes it the lock between two `up`s racing for the same index.
 */
async function claimNetns(): Promise<NodeNetwork> {
  for (let i = 0; i < MAX_NODES; i++) {
    const net = nodeNetwork(i);
    if (await exists(`/run/netns/${net.netns}`)) continue;
    try {
      await ip(['netns', 'add', net.netns]);
      return net;
    } catch {
      // Taken between the check and the add: try the next one.
    }
  }
  throw new Error(`no free real-node index: /run/netns already has visionops-node-0..${MAX_NODES - 1}`);
}

/**
 * Creates the namespace, the veth pair, the addresses and the host's routes into the node.
 * `onClaimed` runs as soon as the namespace exists, so a caller can record it for cleanup.
 */
export async function createNodeNetwork(serviceCidrOf: (index: number) => string, onClaimed: (net: NodeNetwork) => Promise<void>): Promise<NodeNetwork> {
  const net = await claimNetns();
  const serviceCidr = serviceCidrOf(net.index);
  try {
    await onClaimed(net);
    await ip(['link', 'add', net.hostVeth, 'type', 'veth', 'peer', 'name', net.nodeVeth]);
    await ip(['link', 'set', net.nodeVeth, 'netns', net.netns]);
    await ip(['addr', 'add', `${net.hostIp}/30`, 'dev', net.hostVeth]);
    await ip(['link', 'set', net.hostVeth, 'up']);
    await ip(['-n', net.netns, 'addr', 'add', `${net.nodeIp}/30`, 'dev', net.nodeVeth]);
    await ip(['-n', net.netns, 'link', 'set', net.nodeVeth, 'up']);
    await ip(['-n', net.netns, 'link', 'set', 'lo', 'up']);
    // Per-namespace switches: routing between the veth and the pods' bridge, and iptables on
    // bridged traffic (kube-proxy's DNAT of a pod calling a Service that lands on the same bridge).
    await inNetns(net.netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
    // ClusterIPs and pod IPs are reachable from the host, so tests call Services as users would.
    await ip(['route', 'add', serviceCidr, 'via', net.nodeIp, 'dev', net.hostVeth]);
    await ip(['route', 'add', net.podCidr, 'via', net.nodeIp, 'dev', net.hostVeth]);
    return net;
  } catch (e) {
    await removeNodeNetwork(net);
    throw e;
  }
}

/** Removes the veth (its routes go with it) and the namespace; each step tolerates "already gone". */
export async function removeNodeNetwork(net: Pick<NodeNetwork, 'netns' | 'hostVeth'>): Promise<void> {
  await ip(['link', 'del', net.hostVeth]).catch(() => undefined);
  if (await exists(`/run/netns/${net.netns}`)) await ip(['netns', 'del', net.netns]).catch(() => undefined);
}

/** Process ids whose network namespace is the node's (daemons, shims, the holder). */
export async function netnsPids(netns: string): Promise<number[]> {
  if (!(await exists(`/run/netns/${netns}`))) return [];
  const out = await ip(['netns', 'pids', netns]).catch(() => '');
  return out.split(/\s+/).filter(Boolean).map(Number);
}
