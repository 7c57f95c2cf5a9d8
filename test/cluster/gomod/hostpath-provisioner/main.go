// Command hostpath-provisioner is the real test node's default StorageClass: it makes a directory
// under --root for each claim and hands out a hostPath PersistentVolume bound to --node.
//
// It runs as a process of the node (out of cluster), so it creates and removes the directories
// itself; local-path-provisioner would do that through helper pods, which need a pullable helper
// image that this sandbox does not have. Modelled on the hostpath example of
// sig-storage-lib-external-provisioner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

type hostPath struct {
	root string
	node string
	name string
}

func (p *hostPath) Provision(_ context.Context, o controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	if o.PVC.Spec.Selector != nil {
		return nil, controller.ProvisioningFinished, errors.New("claim selectors are not supported")
	}
	dir := filepath.Join(p.root, o.PVName)
	// 0777 and no chown: hostPath volumes get no fsGroup, and pods run as arbitrary non-root UIDs.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if o.StorageClass.ReclaimPolicy != nil {
		reclaim = *o.StorageClass.ReclaimPolicy
	}
	dirType := v1.HostPathDirectory
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": p.name}},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   o.PVC.Spec.AccessModes,
			VolumeMode:                    o.PVC.Spec.VolumeMode,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: o.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource:        v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: dir, Type: &dirType}},
			// The directory exists on one node only.
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{p.node}}},
			}}}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (p *hostPath) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	if pv.Spec.HostPath == nil || filepath.Dir(pv.Spec.HostPath.Path) != p.root {
		return &controller.IgnoredError{Reason: "not a volume of this provisioner"}
	}
	return os.RemoveAll(pv.Spec.HostPath.Path)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the provisioner's identity")
	root := flag.String("root", "", "directory that holds the volumes")
	node := flag.String("node", "", "the node the volumes live on")
	name := flag.String("provisioner", "visionops.io/hostpath", "provisioner name of the StorageClass")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *root == "" || *node == "" {
		fmt.Fprintln(os.Stderr, "usage: hostpath-provisioner --kubeconfig FILE --root DIR --node NAME")
		os.Exit(2)
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		klog.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		klog.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	root2, _ := filepath.Abs(*root)
	pc := controller.NewProvisionController(ctx, client, *name, &hostPath{root: root2, node: *node, name: *name},
		controller.LeaderElection(false), controller.MetricsPort(0))
	pc.Run(ctx)
}
