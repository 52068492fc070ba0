// The etcd server the local cluster runs, built from its Go module at the release Kubernetes
// v1.34 is tested with (3.6.x). Debian's etcd-server 3.4.23 ends every watch opened without a
// resourceVersion after 3 s ("Too large resource version") under Kubernetes 1.34: see CLUSTER.md.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
