/**
 * Configuration files of the real node's daemons. Pure functions of the paths and addresses, so
 * what the node runs with can be read (and unit-tested) in one place.
 */
import { stringify } from 'yaml';
import type { NodeNetwork } from './network.js';

export const NODE_NAME = 'visionops-node';
export const NODE_LABEL = 'visionops.io/node';
export const NODE_LABEL_VALUE = 'real';

/**
 * Inside the node's mount namespace /run is a tmpfs of its own: sockets, shim state, runc state,
 * CNI's IP allocations and pod netns mounts all live there and vanish with the namespace.
 */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

export interface NodePaths {
  /** On the host's filesystem, removed by `down`: images, volumes, kubelet's pod directories. */
  dir: string;
  containerdRoot: string;
  kubeletRoot: string;
  podLogs: string;
  volumes: string;
  cniConfDir: string;
  cniBinDir: string;
}

/**
 * containerd 2.x (config version 3) with every host-global default moved into the node's
 * directories, runc from Debian, and only the plugins a kubelet needs.
 */
export function containerdConfig(paths: NodePaths, sandboxImage: string): string {
  return `version = 3
root = ${JSON.stringify(paths.containerdRoot)}
state = "/run/containerd"
# Host-global or hardware-bound plugins the node does not use (NRI would listen on /var/run/nri).
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${JSON.stringify(CONTAINERD_SOCKET)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(`${paths.containerdRoot}/opt`)}

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = ${JSON.stringify(sandboxImage)}

[plugins."io.containerd.cri.v1.runtime"]
  netns_mounts_under_state_dir = true
  # Lowering an oom_score_adj (the sandbox's -998, Guaranteed pods' -997) needs CAP_SYS_RESOURCE,
  # which this sandbox does not grant: runc would fail to start the container. Clamp to ours.
  restrict_oom_score_adj = true
  cdi_spec_dirs = []
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        # Debian's runc: crun cannot run here (no CAP_SYS_RESOURCE, cgroup v1 hybrid).
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = [${JSON.stringify(paths.cniBinDir)}]
    conf_dir = ${JSON.stringify(paths.cniConfDir)}

[plugins."io.containerd.grpc.v1.cri"]
  # exec, attach and port-forward streams: only the kubelet talks to it.
  stream_server_address = "127.0.0.1"
`;
}

/** One bridge (cni0) for the pods, host-local addresses from the node's pod range, hostPorts. */
export function cniConflist(net: NodeNetwork): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'visionops',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          // Nothing beyond this machine is reachable, so there is nothing to masquerade for.
          ipMasq: false,
          // A pod calling its own Service is DNATed back onto the port it came from.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: net.podCidr, gateway: net.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: '/run/cni-ipam',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export interface KubeletFiles {
  clientCaFile: string;
  cgroupRoot: string;
}

export function kubeletConfig(paths: NodePaths, files: KubeletFiles, net: NodeNetwork): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // This host runs cgroup v1 (hybrid); 1.35+ kubelets refuse it unless told otherwise (KEP-5573).
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    // Every pod cgroup below one root of our own, which `down` removes.
    cgroupRoot: files.cgroupRoot,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    address: net.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: files.clientCaFile } },
    authorization: { mode: 'Webhook' },
    podLogsDir: paths.podLogs,
    staticPodPath: '',
    // No cluster DNS and no resolver for pods: nothing outside this machine is theirs to reach.
    resolvConf: '',
    failSwapOn: false,
    // The developer's disk is not the node's to police: evict only when it is really full, and
    // never garbage-collect images (they were imported, nothing could pull them back).
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    // Quick feedback in tests: status within seconds of a change.
    nodeStatusUpdateFrequency: '5s',
    syncFrequency: '10s',
    maxPods: 60,
  });
}

export function kubeProxyConfig(kubeconfig: string, net: NodeNetwork): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: NODE_NAME,
    bindAddress: net.nodeIp,
    healthzBindAddress: '127.0.0.1:10256',
    metricsBindAddress: '127.0.0.1:10249',
    clusterCIDR: net.podCidr,
    // Leave the kernel's conntrack limits alone: nf_conntrack_max is global to the machine.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  });
}
