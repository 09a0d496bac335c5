// Command etcd is the etcd server at the version k8s.io/kubernetes pins, built from the
// module proxy so the test cluster needs no system package (see docs/adr/0030).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
