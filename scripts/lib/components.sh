# Starting, checking and stopping the cluster's processes. Every process runs in the node network
# namespace (but the host's API forwarder), is recorded by PID in $TP_RUN, and logs to $TP_LOGS.

start_proc() { # start_proc NAME CMD... — run CMD in the node namespace, detached, logged
  local name="$1"; shift
  if proc_alive "$name"; then return 0; fi
  # nsenter, not `ip netns exec`: the latter remounts /sys for the new namespace, which hides the
  # cgroup mounts under /sys/fs/cgroup that the kubelet and runc need.
  setsid nsenter --net="/run/netns/$TP_NODE_NETNS" "$@" >>"$TP_LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$TP_RUN/$name.pid"
}

proc_alive() { local f="$TP_RUN/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

fail_with_log() { # fail_with_log NAME WHAT
  printf 'error: %s did not come up: %s. Last lines of %s:\n' "$1" "$2" "$TP_LOGS/$1.log" >&2
  tail -n 25 "$TP_LOGS/$1.log" >&2 || true
  exit 1
}

wait_until() { # wait_until NAME SECONDS WHAT CHECK_CMD...
  local name="$1" secs="$2" what="$3"; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    proc_alive "$name" || fail_with_log "$name" "the process exited while waiting for: $what"
    [ $SECONDS -lt $deadline ] || fail_with_log "$name" "timed out after ${secs}s waiting for: $what"
    sleep 0.3
  done
}

make_node_netns() {
  ip netns list | grep -qw "^$TP_NODE_NETNS" || make_node_netns_once
  # Processes of the node itself (the API server calling the agent-injector webhook's Service)
  # need a route to the Service range: the routing decision comes before kube-proxy's DNAT in
  # OUTPUT picks a pod. A real node has its default route for that; this one has no uplink.
  innode ip route replace "$SERVICE_CIDR" dev lo src "$NODE_IP"
}

make_node_netns_once() {
  log "creating network namespace $TP_NODE_NETNS"
  ip netns add "$TP_NODE_NETNS"
  innode ip link set lo up
  # The node's own address. It lives on lo because this kernel has no dummy links; workstation
  # namespaces reach it through their veth, pods through the bridge's gateway.
  innode ip addr add "$NODE_IP/32" dev lo
  # Pods reach each other and Services through the bridge; these sysctls are per namespace.
  innode sysctl -qw net.ipv4.ip_forward=1
  innode sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  innode sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
}

write_configs() {
  mkdir -p "$TP_STATE/cni/net.d" "$TP_STATE/containerd" "$TP_RUN/containerd" "$TP_STATE/kubelet" \
    "$TP_STATE/pod-logs" "$TP_STATE/etcd"
  cat >"$TP_STATE/containerd.toml" <<EOF
version = 2
root = "$TP_STATE/containerd"
state = "$TP_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$TP_RUN/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails on oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$TP_STATE/cni/net.d"
EOF
  cat >"$TP_STATE/cni/net.d/10-tp.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "tp-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$TP_STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # Pods with dnsPolicy Default get this; there is no upstream resolver in the node namespace.
  echo "nameserver $DNS_SVC_IP" >"$TP_STATE/resolv.conf"
  cat >"$TP_STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$TP_RUN/containerd/containerd.sock
address: $NODE_IP
readOnlyPort: 0
tlsCertFile: $TP_PKI/kubelet.crt
tlsPrivateKeyFile: $TP_PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $TP_PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$DNS_SVC_IP]
resolvConf: $TP_STATE/resolv.conf
podLogsDir: $TP_STATE/pod-logs
staticPodPath: ""
# A developer machine's disk is often fuller than a server's: evict only when it is nearly full.
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 110
EOF
  cat >"$TP_STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $TP_STATE/kube-proxy.kubeconfig}
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Conntrack limits are host-wide settings; leave them alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  cat >"$TP_STATE/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: $TP_STATE/scheduler.kubeconfig}
leaderElection: {leaderElect: false}
EOF
}

start_etcd() {
  start_proc etcd "$ETCD_BIN" --name tp-node --data-dir "$TP_STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster tp-node=http://127.0.0.1:2380
  wait_until etcd 30 "etcd health" innode curl -sf http://127.0.0.1:2379/health
}

start_apiserver() {
  start_proc kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --authorization-mode=Node,RBAC \
    --client-ca-file="$TP_PKI/ca.crt" \
    --tls-cert-file="$TP_PKI/apiserver.crt" --tls-private-key-file="$TP_PKI/apiserver.key" \
    --kubelet-client-certificate="$TP_PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$TP_PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$TP_PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$TP_PKI/sa.pub" \
    --service-account-signing-key-file="$TP_PKI/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --enable-admission-plugins=NodeRestriction \
    --profiling=false
  wait_until kube-apiserver 90 "the API server's /readyz" \
    innode curl -sf --cacert "$TP_PKI/ca.crt" --cert "$TP_PKI/admin.crt" --key "$TP_PKI/admin.key" \
    "https://$NODE_IP:6443/readyz"
}

start_controllers() {
  start_proc kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$TP_STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$TP_STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$TP_STATE/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs=true --cluster-cidr="$POD_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --root-ca-file="$TP_PKI/ca.crt" --service-account-private-key-file="$TP_PKI/sa.key" \
    --cluster-signing-cert-file="$TP_PKI/ca.crt" --cluster-signing-key-file="$TP_PKI/ca.key" \
    --use-service-account-credentials=true --controllers='*,-cloud-node-lifecycle'
  start_proc kube-scheduler "$K8S_BIN/kube-scheduler" --config="$TP_STATE/scheduler.yaml" \
    --authentication-kubeconfig="$TP_STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$TP_STATE/scheduler.kubeconfig" --bind-address=127.0.0.1
}

start_node() {
  [ -f "$TP_STATE/netns-before-up" ] || { ip netns list | awk '{print $1}' >"$TP_STATE/netns-before-up"; }
  start_proc containerd containerd --config "$TP_STATE/containerd.toml"
  wait_until containerd 30 "containerd's socket" \
    ctr --address "$TP_RUN/containerd/containerd.sock" version
  import_images
  start_proc kubelet "$K8S_BIN/kubelet" --config="$TP_STATE/kubelet.yaml" \
    --kubeconfig="$TP_STATE/kubelet.kubeconfig" --root-dir="$TP_STATE/kubelet" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  start_proc kube-proxy "$K8S_BIN/kube-proxy" --config="$TP_STATE/kube-proxy.yaml"
  wait_until kubelet 90 "node $NODE_NAME Ready" \
    kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
}

import_images() {
  local f
  for f in "$IMAGE_DIR"/*.oci.tar; do
    [ -e "$f" ] || die "no images in $IMAGE_DIR: run scripts/images first"
    ctr --address "$TP_RUN/containerd/containerd.sock" -n k8s.io images import \
      --snapshotter overlayfs "$f" >/dev/null || die "importing $f into containerd failed"
  done
}

# The host gets the API server on 127.0.0.1:$HOST_API_PORT through socat, which enters the node
# namespace for each connection: no route, address or firewall rule is added to the host.
# nodelay on both legs: without it Nagle holds small HTTP/2 frames (new flows) for ~40 ms.
start_host_forwarder() {
  proc_alive api-forwarder && return 0
  setsid socat "TCP-LISTEN:$HOST_API_PORT,bind=127.0.0.1,reuseaddr,fork,nodelay" \
    "EXEC:ip netns exec $TP_NODE_NETNS socat STDIO TCP\:127.0.0.1\:6443\,nodelay" \
    >>"$TP_LOGS/api-forwarder.log" 2>&1 </dev/null &
  echo $! >"$TP_RUN/api-forwarder.pid"
  wait_until api-forwarder 10 "the host forwarder on 127.0.0.1:$HOST_API_PORT" \
    "$K8S_BIN/kubectl" --kubeconfig "$TP_STATE/admin.kubeconfig" get --raw /readyz
}

apply_addons() {
  log "deploying CoreDNS"
  sed -e "s|@DNS_SVC_IP@|$DNS_SVC_IP|g" -e "s|@COREDNS_IMAGE@|tp.local/coredns:${COREDNS_VERSION#v}|g" \
    "$TP_ROOT/scripts/cluster-addons/coredns.yaml" | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    { kubectl_admin -n kube-system get pods -o wide >&2; kubectl_admin -n kube-system get events >&2; die "CoreDNS did not become ready"; }
}

# All our processes, pods first so nothing restarts them; then unmount what containerd and the
# kubelet mounted, remove the cgroups the kubelet made, and the namespaces.
stop_everything() {
  local n
  for n in kubelet kube-proxy kube-scheduler kube-controller-manager; do stop_proc "$n"; done
  kill_cgroup_tree kubepods
  stop_proc containerd
  pkill -9 -f "containerd-shim-runc-v2 .*-address $TP_RUN/containerd/containerd.sock" 2>/dev/null || true
  for n in api-forwarder kube-apiserver etcd; do stop_proc "$n"; done
  pkill -f "ip netns exec $TP_NODE_NETNS socat" 2>/dev/null || true
  unmount_under "$TP_STATE"
  unmount_under "$TP_RUN"
  # Pod namespaces are named cni-<uuid> by containerd; delete those that were not there before up.
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep '^cni-' || true); do
    grep -qx "$ns" "$TP_STATE/netns-before-up" 2>/dev/null || ip netns delete "$ns" 2>/dev/null || true
  done
  remove_cgroup_tree kubepods
}

stop_proc() {
  local f="$TP_RUN/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

kill_cgroup_tree() { # SIGKILL every process in the kubelet's pod cgroups
  local procs
  procs=$(find /sys/fs/cgroup/pids/"$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u || true)
  [ -n "$procs" ] && kill -9 $procs 2>/dev/null || true
  sleep 0.3
}

remove_cgroup_tree() { # rmdir the kubelet's cgroups in every v1 hierarchy, deepest first
  local h
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$1" ] && find "$h$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

unmount_under() {
  local m
  for m in $(awk -v p="$1" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}
