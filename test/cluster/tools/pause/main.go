// The sandbox ("pause") container of the real-kubelet test node (docs/adr/0071): holds the pod's
// namespaces, reaps whatever is re-parented to it, exits 0 on SIGTERM or SIGINT. Built from source
// because no registry (registry.k8s.io/pause) is reachable from our machines.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
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
