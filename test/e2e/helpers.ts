/**
 * What the end-to-end suites look at, as a user would: ModelService conditions, Services called
 * on their ClusterIP from this machine, pods and the processes the node really runs for them.
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP, PLURAL, VERSION, type Condition, type ModelService } from '../../crds/modelservice.js';

export async function readModelService(kc: KubeConfig, namespace: string, name: string): Promise<ModelService | undefined> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name }).catch(() => undefined)) as
    | ModelService
    | undefined;
}

export function condition(ms: ModelService | undefined, type: string): Condition | undefined {
  return ms?.status?.conditions?.find((c) => c.type === type);
}

/**
 * Polls until `check` returns a value; on timeout the error carries the last value seen, which
 * says more than "timed out" (the condition that never turned, the pods' states).
 */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, describe?: () => Promise<string>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${describe ? `\n${await describe()}` : ''}`);
    }
    await sleep(500);
  }
}

/** What the ModelService and its pods say, for failure messages. */
export async function describeModelService(kc: KubeConfig, namespace: string, name: string): Promise<string> {
  const ms = await readModelService(kc, namespace, name);
  const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace }).catch(() => ({ items: [] as V1Pod[] }));
  return [
    `conditions: ${JSON.stringify(ms?.status?.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`) ?? [])}`,
    ...pods.items.map((p) => `pod ${p.metadata?.name} ${p.status?.phase} on ${p.spec?.nodeName ?? '-'}: ${JSON.stringify([...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].map((c) => ({ name: c.name, state: c.state, last: c.lastState })))}`),
  ].join('\n');
}

/** Waits for a condition of the ModelService to match; returns it and how long it took. */
export function waitForCondition(kc: KubeConfig, namespace: string, name: string, type: string, want: (c: Condition) => boolean, timeoutMs: number) {
  return eventually(
    `${namespace}/${name} condition ${type}`,
    timeoutMs,
    async () => {
      const c = condition(await readModelService(kc, namespace, name), type);
      return c && want(c) ? c : undefined;
    },
    () => describeModelService(kc, namespace, name),
  );
}

/** http://<ClusterIP>:<port> of a Service: reachable from this machine through the node's kube-proxy. */
/**
 * The Service's ClusterIP URL, once the ClusterIP accepts connections. A Ready ModelService (or an
 * available Deployment) says its pods are Ready; kube-proxy programs the Service from the
 * EndpointSlice on its own clock, and until it has, a connection is refused by the node's routing
 * (ENETUNREACH: a ClusterIP without rules has no route). A client of a fresh Service sees the same
 * gap; the tests measure what comes after it.
 */
export async function serviceUrl(kc: KubeConfig, namespace: string, name: string, port?: number): Promise<string> {
  const svc = await kc.makeApiClient(CoreV1Api).readNamespacedService({ name, namespace });
  const host = svc.spec?.clusterIP ?? '';
  const p = port ?? svc.spec?.ports?.[0]?.port ?? 80;
  let last = '';
  await eventually(`${namespace}/${name}'s ClusterIP ${host}:${p} to accept connections`, 30_000, async () => {
    last = await tcpConnect(host, p, 2_000);
    return last === '' ? true : undefined;
  }, async () => `last error: ${last}`);
  return `http://${host}:${p}`;
}

/** '' when a TCP connection opens within `timeoutMs`, else why not. */
function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (why: string) => {
      socket.destroy();
      resolve(why);
    };
    socket.once('connect', () => done(''));
    socket.once('timeout', () => done(`no answer in ${timeoutMs} ms`));
    socket.once('error', (e) => done(e.message));
  });
}

export async function podsOf(kc: KubeConfig, namespace: string, selector: string): Promise<V1Pod[]> {
  return (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: selector })).items;
}

/** Seconds from PodScheduled to Ready, from the pod's own condition timestamps. */
export function scheduledToReadySeconds(pod: V1Pod): number | undefined {
  const at = (type: string) => pod.status?.conditions?.find((c) => c.type === type && c.status === 'True')?.lastTransitionTime;
  const scheduled = at('PodScheduled');
  const ready = at('Ready');
  return scheduled && ready ? (new Date(ready).getTime() - new Date(scheduled).getTime()) / 1000 : undefined;
}

export async function deploymentAvailable(kc: KubeConfig, namespace: string, name: string): Promise<boolean> {
  const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name, namespace }).catch(() => undefined);
  return (d?.status?.availableReplicas ?? 0) >= (d?.spec?.replicas ?? 1) && d?.status?.observedGeneration === d?.metadata?.generation;
}

/** The host pids of a container: the processes in its cgroup (found by container id under the node's cgroup root). */
export async function containerPids(cgroupRoot: string, containerId: string): Promise<number[]> {
  const id = containerId.replace(/^[a-z]+:\/\//, '');
  const found: number[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory()) continue;
      const sub = path.join(dir, e.name);
      if (e.name === id) {
        const procs = await readFile(path.join(sub, 'cgroup.procs'), 'utf8').catch(() => '');
        found.push(...procs.split('\n').filter(Boolean).map(Number));
      } else {
        await walk(sub);
      }
    }
  };
  await walk(path.join('/sys/fs/cgroup/pids', cgroupRoot));
  return found;
}

/** Uid line and whether / is read-only, as the kernel sees the process. */
export async function processFacts(pid: number): Promise<{ uids: number[]; rootReadOnly: boolean; comm: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
  const mountinfo = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
  // Fields: id parent major:minor root mountpoint options ...; the last line for / wins.
  const root = mountinfo.split('\n').filter((l) => l.split(' ')[4] === '/').pop() ?? '';
  const rootReadOnly = (root.split(' ')[5] ?? '').split(',').includes('ro');
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  return { uids, rootReadOnly, comm };
}
