//go:build tools

// Package tools pins the CoreDNS release that scripts/cluster builds for the kube-dns Service.
package tools

import _ "github.com/coredns/coredns"
