/**
 * The one place where the test cluster's component versions are pinned.
 *
 * Changing a value here makes `npm run cluster -- build` regenerate the matching wrapper Go module
 * under test/cluster/gomod/ (commit the new go.mod/go.sum) and rebuild only that tool.
 */

/** Newest Kubernetes release whose go.mod accepts the installed Go 1.26 toolchain. */
export const KUBERNETES_VERSION = 'v1.37.2';

/**
 * etcd stays on the 3.5 line that kube-apiserver's own CI used for years; 3.5.13+ is what
 * kube-apiserver 1.31+ expects (older releases lack the watch-progress fixes it relies on).
 */
export const ETCD_VERSION = 'v3.5.35';

export const KWOK_VERSION = 'v0.8.0';

export const HELM_VERSION = 'v3.22.0';

/**
 * The real node (`up --real-node`). Kubernetes 1.36+ kubelets need containerd 2.x, which Debian
 * bookworm does not ship (it has 1.6), so containerd is built from Go modules like the rest.
 */
export const CONTAINERD_VERSION = 'v2.4.2';

/** bridge, host-local, loopback and portmap: the plugins a single-node bridge network needs. */
export const CNI_PLUGINS_VERSION = 'v1.10.0';

/** The library behind the node's hostpath provisioner (test/cluster/gomod/hostpath-provisioner). */
export const PROVISIONER_LIB_VERSION = 'v13.1.0';
