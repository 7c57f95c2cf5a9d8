import { kubernetesStagingReplaces, listModule, type WrapperModule } from './gomod.js';
import { ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION, KWOK_VERSION } from './versions.js';

/** A wrapper module plus the -X flags that make its binaries report their real release. */
export interface Tool extends WrapperModule {
  ldflags: () => Promise<string[]>;
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
  packages: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map((c) => `k8s.io/kubernetes/cmd/${c}`),
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

/** Build order: the slowest first, so a failure in the cheap ones doesn't hide behind it. */
export const TOOLS: readonly Tool[] = [kubernetes, etcd, kwok, helm];

/** Binary file name of a main package, as `go build -o dir/` names it. */
export function binaryName(pkg: string): string {
  if (pkg === 'go.etcd.io/etcd/server/v3') return 'etcd';
  return pkg.split('/').pop() ?? pkg;
}
