//go:build tools

// Package tools pins the kubeconform release that validates the chart's rendered objects against
// the Kubernetes JSON schemas (test/unit/helm/kubeconform.test.ts).
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
