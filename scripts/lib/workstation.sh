# Workstation namespaces: a stand-in for a developer's laptop. Each is joined to the node namespace
# by a veth pair on its own /30 and has a route to the API server's address only — no route to pod
# or Service CIDRs — so `tp connect` is what makes the cluster reachable from it.

WS_DIR="$TP_STATE/workstations"

make_workstation() {
  local name="$1" idx
  [[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "workstation name '$name': use lowercase letters, digits and '-'"
  ip netns list | grep -qw "^$TP_NODE_NETNS" || die "no cluster: run scripts/cluster up first"
  mkdir -p "$WS_DIR"
  if [ -f "$WS_DIR/$name/index" ] && ip netns list | grep -qw "^$name"; then
    echo "$WS_DIR/$name/kubeconfig"; return 0
  fi
  ip netns list | grep -qw "^$name" && die "a network namespace named $name exists and is not one of ours"
  # A free index has no workstation and no leftover veth in the node: a namespace that a dying
  # process still held outlives `ip netns delete` for a moment, and its veth with it.
  for idx in $(seq 1 250); do
    grep -qx "$idx" "$WS_DIR"/*/index 2>/dev/null && continue
    innode ip link show "tpw$idx" >/dev/null 2>&1 && continue
    break
  done
  mkdir -p "$WS_DIR/$name"
  echo "$idx" >"$WS_DIR/$name/index"
  ip netns add "$name"
  ip netns exec "$name" ip link set lo up
  ip link add "tpw$idx" netns "$TP_NODE_NETNS" type veth peer name eth0 netns "$name"
  innode ip addr add "10.251.$idx.1/30" dev "tpw$idx"
  innode ip link set "tpw$idx" up
  ip netns exec "$name" ip addr add "10.251.$idx.2/30" dev eth0
  ip netns exec "$name" ip link set eth0 up
  ip netns exec "$name" ip route add "$NODE_IP/32" via "10.251.$idx.1"
  # Its "original resolver" answers nothing; cluster names resolve only once tp makes them.
  mkdir -p "/etc/netns/$name"
  echo "nameserver 10.251.$idx.1" >"/etc/netns/$name/resolv.conf"
  cp "$TP_STATE/node-admin.kubeconfig" "$WS_DIR/$name/kubeconfig"
  echo "$WS_DIR/$name/kubeconfig"
}

delete_workstation() {
  local name="$1"
  [ -f "$WS_DIR/$name/index" ] || { ip netns list | grep -qw "^$name" && die "$name is not a workstation of ours"; return 0; }
  # Processes a test left in the namespace would keep it alive: end them first.
  local pids idx
  idx=$(cat "$WS_DIR/$name/index")
  pids=$(ip netns pids "$name" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  # Deleting the node's end removes the pair now, not when the last holder of the namespace exits.
  innode ip link del "tpw$idx" 2>/dev/null || true
  ip netns delete "$name" 2>/dev/null || true
  rm -rf "/etc/netns/$name" "$WS_DIR/$name"
}

delete_all_workstations() {
  local d
  for d in "$WS_DIR"/*/; do [ -d "$d" ] && delete_workstation "$(basename "$d")"; done
  return 0
}
