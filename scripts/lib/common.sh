# Shared settings and helpers for the scripts in scripts/. Sourced, never run.
# Everything the cluster scripts create lives under these paths, in the network namespace
# $TP_NODE_NETNS, or in workstation namespaces they made — `scripts/cluster down` removes all of it.

set -euo pipefail

TP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TP_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tp"

# Pinned versions. Kubernetes 1.34 is the newest release whose kubelet still starts on cgroup v1
# by default (1.35 turned failCgroupV1 on), and it speaks CRI v1 with containerd 1.6.
K8S_VERSION=v1.34.4
COREDNS_VERSION=v1.13.1
HELM_VERSION=v3.22.0
ETCD_VERSION=v3.6.16
PAUSE_IMAGE=registry.k8s.io/pause:3.10

K8S_BIN="$TP_CACHE/k8s-$K8S_VERSION"
COREDNS_BIN="$TP_CACHE/coredns-$COREDNS_VERSION/coredns"
HELM_BIN="$TP_CACHE/helm-$HELM_VERSION/helm"
ETCD_BIN="$TP_CACHE/etcd-$ETCD_VERSION/etcd"
PAUSE_BIN="$TP_CACHE/pause/pause"
IMAGE_DIR="$TP_CACHE/images"

TP_NODE_NETNS=tp-node
TP_STATE=/var/lib/tp-cluster
TP_RUN=/run/tp-cluster
TP_LOGS="$TP_STATE/logs"
TP_PKI="$TP_STATE/pki"

NODE_NAME=tp-node
NODE_IP=10.250.0.1
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
HOST_API_PORT=16443 # the host reaches the API server through a userspace forwarder on loopback

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "this needs root (network namespaces, containerd); run it with sudo"; }
innode() { ip netns exec "$TP_NODE_NETNS" "$@"; }
kubectl_admin() { innode "$K8S_BIN/kubectl" --kubeconfig "$TP_STATE/node-admin.kubeconfig" "$@"; }
