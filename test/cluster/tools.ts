import { kubernetesStagingReplaces, listModule, type WrapperModule } from './gomod.js';
import {
  CNI_PLUGINS_VERSION, CONTAINERD_VERSION, ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, KWOK_VERSION, PROVISIONER_LIB_VERSION,
} from './versions.js';

/** A wrapper module plus the -X flags that make its binaries report their real release. */
export interface Tool extends WrapperModule {
  ldflags: () => Promise<string[]>;
  /** Only the real node (`up --real-node`) needs it; kwok-only runs do not wait for its build. */
  node?: boolean;
  /** Subdirectory of the bin dir for its binaries (CNI plugins live in a directory of their own). */
  subdir?: string;
  /** Our own code with no upstream module to pin (its go.mod is written by hand). */
  local?: boolean;
}

function majorMinor(version: string): [string, string] {
  const m = /^v(\d+)\.(\d+)\./.exec(version);
  if (!m?.[1] || !m[2]) throw new Error(`not a semantic version: ${version}`);
  return [m[1], m[2]];
}

export const kubernetes: Tool = {
  dir: 'kubernetes',
  module: 'k8s.io/kubernetes',
  version: KUBERNETES_VERSION,
  // kubelet and kube-proxy are the real node's; they share the module graph and most of the
  // build cache with the control plane, so they cost little extra and stay on the same release.
  packages: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy'].map(
    (c) => `k8s.io/kubernetes/cmd/${c}`,
  ),
  replaces: () => kubernetesStagingReplaces(KUBERNETES_VERSION),
  async ldflags() {
    // Without these, binaries report v0.0.0-master, and kube-apiserver derives its emulation and
    // compatibility versions from gitVersion, so /version must carry the real release.
    const [major, minor] = majorMinor(KUBERNETES_VERSION);
    const { Time } = await listModule(this, 'k8s.io/kubernetes');
    const vars = {
      gitVersion: KUBERNETES_VERSION,
      gitMajor: major,
      gitMinor: minor,
      gitTreeState: 'clean',
      // The proxy does not say which commit a tag is; its commit time keeps the build reproducible.
      ...(Time ? { buildDate: Time.replace(/\.\d+Z$/, 'Z') } : {}),
    };
    // Upstream's hack/lib/version.sh stamps both packages in every binary; kubectl's client side
    // reads client-go's copy.
    return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) =>
      Object.entries(vars).map(([k, v]) => `-X ${pkg}.${k}=${v}`),
    );
  },
};

export const etcd: Tool = {
  dir: 'etcd',
  module: 'go.etcd.io/etcd/server/v3',
  version: ETCD_VERSION,
  // In 3.5 the server module's root package is the etcd main (upstream builds it the same way).
  packages: ['go.etcd.io/etcd/server/v3'],
  // The version string is a constant in go.etcd.io/etcd/api/v3/version, so nothing to stamp.
  ldflags: () => Promise.resolve([]),
};

export const kwok: Tool = {
  dir: 'kwok',
  module: 'sigs.k8s.io/kwok',
  version: KWOK_VERSION,
  packages: ['sigs.k8s.io/kwok/cmd/kwok'],
  // The node-initialize stage reports this as the fake kubelet version.
  ldflags: () => Promise.resolve([`-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}`]),
};

export const helm: Tool = {
  dir: 'helm',
  module: 'helm.sh/helm/v3',
  version: HELM_VERSION,
  packages: ['helm.sh/helm/v3/cmd/helm'],
  async ldflags() {
    // helm's Makefile stamps the Kubernetes version its client-go speaks: that is what
    // .Capabilities.KubeVersion shows in `helm template` without a cluster.
    const { Version } = await listModule(this, 'k8s.io/client-go');
    const [, k8sMinor] = majorMinor(Version);
    return [
      `-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`,
      '-X helm.sh/helm/v3/internal/version.gitTreeState=clean',
      ...['helm.sh/helm/v3/pkg/lint/rules', 'helm.sh/helm/v3/pkg/chartutil'].flatMap((pkg) => [
        `-X ${pkg}.k8sVersionMajor=1`,
        `-X ${pkg}.k8sVersionMinor=${k8sMinor}`,
      ]),
    ];
  },
};

export const containerd: Tool = {
  dir: 'containerd',
  module: 'github.com/containerd/containerd/v2',
  version: CONTAINERD_VERSION,
  packages: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((c) => `github.com/containerd/containerd/v2/cmd/${c}`),
  node: true,
  // What containerd's Makefile stamps; `ctr version` and the CRI's runtime version show it.
  ldflags: () =>
    Promise.resolve([
      `-X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}`,
      '-X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2',
    ]),
};

export const cniPlugins: Tool = {
  dir: 'cni-plugins',
  module: 'github.com/containernetworking/plugins',
  version: CNI_PLUGINS_VERSION,
  packages: ['main/bridge', 'ipam/host-local', 'main/loopback', 'meta/portmap'].map((p) => `github.com/containernetworking/plugins/plugins/${p}`),
  node: true,
  subdir: 'cni',
  ldflags: () =>
    Promise.resolve([`-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${CNI_PLUGINS_VERSION}`]),
};

/**
 * The node's default StorageClass: a hostpath provisioner of our own (main.go in its gomod dir)
 * on kubernetes-sigs' provisioner library. It runs as a process of the node, so it makes volume
 * directories itself: no helper pods, hence no helper image (nothing can be pulled here).
 */
export const hostpathProvisioner: Tool = {
  dir: 'hostpath-provisioner',
  module: 'sigs.k8s.io/sig-storage-lib-external-provisioner/v13',
  version: PROVISIONER_LIB_VERSION,
  packages: ['visionops.test/cluster/hostpath-provisioner'],
  node: true,
  // The Kubernetes client libraries of the release the rest is built from: the build cache
  // already holds them, so the provisioner costs little extra to compile.
  replaces: () =>
    Promise.resolve(
      ['k8s.io/api', 'k8s.io/apimachinery', 'k8s.io/client-go'].map((m) => ({ from: m, to: m, version: KUBERNETES_VERSION.replace(/^v1\./, 'v0.') })),
    ),
  ldflags: () => Promise.resolve([]),
};

/** The program of the node's sandbox image (registry.k8s.io/pause cannot be pulled here). */
export const pause: Tool = {
  dir: 'pause',
  module: 'visionops.test/cluster/pause',
  version: 'local',
  packages: ['visionops.test/cluster/pause'],
  node: true,
  local: true,
  ldflags: () => Promise.resolve([]),
};

/** Build order: the slowest first, so a failure in the cheap ones doesn't hide behind it. */
export const TOOLS: readonly Tool[] = [kubernetes, etcd, kwok, helm, containerd, cniPlugins, hostpathProvisioner, pause];

/** Binary file name of a main package, as `go build -o dir/` names it. */
export function binaryName(pkg: string): string {
  if (pkg === 'go.etcd.io/etcd/server/v3') return 'etcd';
  return pkg.split('/').pop() ?? pkg;
}
