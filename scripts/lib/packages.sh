# Installs the Debian packages the cluster, the images and the tests use, when missing.
# Sourced by scripts/setup.

TP_DEBIAN_PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 iperf3
  sshfs openssh-sftp-server openssh-client socat openssl curl conntrack ethtool gcc libc6-dev
  python3 dnsutils
  # bench/ (npm run bench): the peers measured beside tp in the same run, and CLI timing.
  # openssh-server only for its sshd binary, run by the bench in a namespace with its own config;
  # the package's own service is never started by the bench.
  dante-server openssh-server sshuttle hyperfine)

ensure_debian_packages() {
  local missing=()
  for p in "${TP_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    # Packages such as openssh-server and dante-server would start their system services (an sshd
    # on the host's port 22): tp runs their binaries itself, inside namespaces. Debian's
    # policy-rc.d hook (exit 101: "action forbidden") keeps every service down during the install.
    local own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
    [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
    return $rc
  fi
}
