/**
 * `npm run cluster -- <command>`: build the test control plane's binaries, start and stop it.
 * Run with no command for usage.
 */
import { parseArgs } from 'node:util';
import { buildAll } from './build.js';
import { down, status, up } from './controlplane.js';
import { pin } from './gomod.js';
import { defaultStateDir } from './paths.js';
import { TOOLS } from './tools.js';

const USAGE = `usage: npm run cluster -- <command> [--dir <state dir>] [--nodes <n>] [--real-node]
                              [--service-cidr <cidr>] [--kcm-qps <n>] [--kcm-concurrent-syncs <n>]

  build    build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok,
           helm and the real node's kubelet, kube-proxy, containerd, CNI plugins, provisioner and
           pause from the Go module proxy into .cache/bin (only what changed)
  pin      regenerate test/cluster/gomod/*/go.mod and go.sum from test/cluster/versions.ts
  up       start etcd, the control plane and kwok nodes; writes <dir>/kubeconfig
           --real-node: also a real node (kubelet, containerd, runc, kube-proxy, default
           StorageClass) in a network namespace of its own, labelled visionops.io/node=real;
           the kwok nodes get a NoSchedule taint; needs root, runc and iptables
  status   say what runs
  down     stop everything and remove <dir>

  <dir> defaults to $VISIONOPS_CLUSTER_DIR or .cluster/ at the repository root.
  up's tuning (defaults are Kubernetes' own, what tests want): --service-cidr (default 10.0.0.0/24,
  254 Services), --kcm-qps (kube-controller-manager's API client limit, default 20; burst is twice
  it), --kcm-concurrent-syncs (its deployment/replicaset/endpoints/endpointslice workers, default 5).`;

const log = (line: string): void => console.error(`[cluster] ${line}`);

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      nodes: { type: 'string' },
      'service-cidr': { type: 'string' },
      'kcm-qps': { type: 'string' },
      'kcm-concurrent-syncs': { type: 'string' },
      'real-node': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = values.help ? ['help'] : positionals;
  const dir = values.dir ?? defaultStateDir();
  switch (command) {
    case 'up': {
      const started = Date.now();
      const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
      if (nodes !== undefined && !(Number.isInteger(nodes) && nodes > 0)) throw new Error(`--nodes must be a positive integer, got ${values.nodes}`);
      const positive = (flag: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!(Number.isInteger(n) && n > 0)) throw new Error(`--${flag} must be a positive integer, got ${v}`);
        return n;
      };
      const kcmQps = positive('kcm-qps', values['kcm-qps']);
      const kcmConcurrentSyncs = positive('kcm-concurrent-syncs', values['kcm-concurrent-syncs']);
      const state = await up({
        dir, log, ...(nodes ? { nodes } : {}),
        ...(values['service-cidr'] ? { serviceCidr: values['service-cidr'] } : {}),
        ...(kcmQps ? { kcmQps } : {}),
        ...(kcmConcurrentSyncs ? { kcmConcurrentSyncs } : {}),
        ...(values['real-node'] ? { realNode: true } : {}),
      });
      log(`up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${state.server}, nodes ${state.nodes.join(', ')}`);
      log(`logs in ${dir}/logs/`);
      // stdout carries only the line a shell wants: eval "$(npm run -s cluster -- up)".
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      return 0;
    }
    case 'down':
      log((await down(dir)) ? `stopped and removed ${dir}` : `nothing to stop in ${dir}`);
      return 0;
    case 'status': {
      const s = await status(dir);
      if (!s) {
        console.log(`no cluster in ${dir}`);
        return 3;
      }
      console.log(`cluster in ${s.state.dir} (started ${s.state.startedAt})`);
      console.log(`  kubeconfig  ${s.state.kubeconfig}`);
      console.log(`  api server  ${s.state.server}  readyz: ${s.readyz}`);
      for (const c of s.components) console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.running ? 'running' : 'NOT RUNNING'}  ${c.log}`);
      for (const n of s.nodes) console.log(`  node ${n.name.padEnd(19)} ${n.ready ? 'Ready' : 'NotReady'}`);
      return s.components.every((c) => c.running) && s.readyz === 'ok' ? 0 : 1;
    }
    case 'build': {
      const started = Date.now();
      await buildAll({ log });
      log(`build done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return 0;
    }
    case 'pin':
      for (const tool of TOOLS.filter((t) => !t.local)) {
        log(`pinning ${tool.module}@${tool.version}`);
        await pin(tool);
      }
      return 0;
    default:
      console.error(USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
