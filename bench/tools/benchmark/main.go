// Command benchmark is etcd 3.6's own gRPC load generator (tools/benchmark), built from the module
// proxy for npm run bench; it drives etcd's native path the way etcd's maintainers measure it.
package main

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/v3/tools/benchmark/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
