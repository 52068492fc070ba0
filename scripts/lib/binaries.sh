# Builds the cluster's binaries from pinned Go modules (scripts/go/*) into $TP_CACHE, keyed by
# version, only when missing. The cache lives outside the checkout so a fresh clone (CI) reuses it.

# kubeconform validates the chart's rendered objects against the Kubernetes schemas (unit tier,
# test/unit/helm/kubeconform.test.ts); the schemas are made offline from the OpenAPI document in
# the k8s.io/kubernetes module of the cluster's version (scripts/go/kubeconform/openapi2schemas).
KUBECONFORM_VERSION=v0.8.0
KUBECONFORM_BIN="$TP_CACHE/kubeconform-$KUBECONFORM_VERSION/kubeconform"
K8S_SCHEMAS="$TP_CACHE/k8s-schemas-$K8S_VERSION"

build_go() { # build_go MODULE_DIR OUT_DIR PKG... — `go build` inside one of our pinned modules
  local mod="$1" out="$2"; shift 2
  mkdir -p "$out"
  (cd "$TP_ROOT/scripts/go/$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${LDFLAGS:-}" -o "$out/" "$@")
}

ensure_binaries() {
  local k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl) missing=()
  for c in "${k8s_cmds[@]}"; do [ -x "$K8S_BIN/$c" ] || missing+=("k8s.io/kubernetes/cmd/$c"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "building Kubernetes $K8S_VERSION from Go modules (${#missing[@]} commands; a cold build takes ~15 min on 2 cores)"
    local v="${K8S_VERSION#v}"
    LDFLAGS="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=${v%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean" \
      build_go kubernetes "$K8S_BIN.tmp" "${missing[@]}"
    mkdir -p "$K8S_BIN" && mv "$K8S_BIN.tmp"/* "$K8S_BIN/" && rmdir "$K8S_BIN.tmp"
  fi
  if [ ! -x "$COREDNS_BIN" ]; then
    log "building CoreDNS $COREDNS_VERSION from Go modules"
    build_go coredns "$(dirname "$COREDNS_BIN").tmp" github.com/coredns/coredns
    mv "$(dirname "$COREDNS_BIN").tmp" "$(dirname "$COREDNS_BIN")"
  fi
  if [ ! -x "$HELM_BIN" ]; then
    log "building Helm $HELM_VERSION from Go modules"
    LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      build_go helm "$(dirname "$HELM_BIN").tmp" helm.sh/helm/v3/cmd/helm
    mv "$(dirname "$HELM_BIN").tmp" "$(dirname "$HELM_BIN")"
  fi
  if [ ! -x "$ETCD_BIN" ]; then
    # Debian's etcd-server 3.4 breaks watches without a resourceVersion under Kubernetes 1.34.
    log "building etcd $ETCD_VERSION from Go modules"
    build_go etcd "$(dirname "$ETCD_BIN").tmp" . # the module's last path element names the binary: etcd
    mv "$(dirname "$ETCD_BIN").tmp" "$(dirname "$ETCD_BIN")"
  fi
  if [ ! -x "$KUBECONFORM_BIN" ]; then
    log "building kubeconform $KUBECONFORM_VERSION from Go modules"
    build_go kubeconform "$(dirname "$KUBECONFORM_BIN").tmp" github.com/yannh/kubeconform/cmd/kubeconform ./openapi2schemas
    mv "$(dirname "$KUBECONFORM_BIN").tmp" "$(dirname "$KUBECONFORM_BIN")"
  fi
  if [ ! -d "$K8S_SCHEMAS/$K8S_VERSION-standalone-strict" ]; then
    log "making the Kubernetes $K8S_VERSION JSON schemas for kubeconform (from the module's OpenAPI document)"
    local k8s_dir
    k8s_dir=$(cd "$TP_ROOT/scripts/go/kubernetes" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
    [ -f "$k8s_dir/api/openapi-spec/swagger.json" ] || die "no api/openapi-spec/swagger.json in the k8s.io/kubernetes module ($k8s_dir)"
    rm -rf "$K8S_SCHEMAS.tmp"
    "$(dirname "$KUBECONFORM_BIN")/openapi2schemas" "$k8s_dir/api/openapi-spec/swagger.json" "$K8S_SCHEMAS.tmp" "$K8S_VERSION" >/dev/null
    rm -rf "$K8S_SCHEMAS" && mv "$K8S_SCHEMAS.tmp" "$K8S_SCHEMAS"
  fi
  if [ ! -x "$PAUSE_BIN" ]; then
    log "building the pause binary"
    mkdir -p "$(dirname "$PAUSE_BIN")"
    gcc -static -O2 -o "$PAUSE_BIN" "$TP_ROOT/scripts/image-src/pause.c"
  fi
}
