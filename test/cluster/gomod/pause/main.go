// Command pause holds a pod's namespaces, as Kubernetes' pause.c does: it sleeps until SIGINT or
// SIGTERM and, as PID 1 of a pod that shares its process namespace, reaps orphaned children.
// The real node imports it as its sandbox image, since registry.k8s.io cannot be reached here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (visionops test node)\n")
		return
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
