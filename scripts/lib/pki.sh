# Certificates and kubeconfigs for the local cluster, made with openssl. One CA signs everything;
# each component gets its own identity so RBAC and the Node authorizer see what a real cluster has.

_sign() { # _sign NAME SUBJECT EXT_FILE — key + cert signed by the cluster CA
  local name="$1" subj="$2" ext="$3"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$TP_PKI/$name.key" -subj "$subj" \
    -out "$TP_PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$TP_PKI/$name.csr" -CA "$TP_PKI/ca.crt" -CAkey "$TP_PKI/ca.key" \
    -CAcreateserial -days 365 -sha256 -extfile "$ext" -out "$TP_PKI/$name.crt" 2>/dev/null
  rm -f "$TP_PKI/$name.csr"
}

_client_cert() { # _client_cert NAME CN [ORG]
  local ext="$TP_PKI/client.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$ext"
  _sign "$1" "/CN=$2${3:+/O=$3}" "$ext"
}

_kubeconfig() { # _kubeconfig FILE SERVER CERT_NAME
  local file="$1" server="$2" cert="$3"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tp-local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$TP_PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$TP_PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$TP_PKI/$cert.key")
contexts:
- name: tp-local
  context: {cluster: tp-local, user: $cert, namespace: default}
current-context: tp-local
EOF
  chmod 600 "$file"
}

make_pki() {
  [ -f "$TP_PKI/done" ] && return 0
  log "making certificates"
  mkdir -p "$TP_PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TP_PKI/ca.key" -out "$TP_PKI/ca.crt" \
    -days 3650 -subj "/CN=tp-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null

  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SVC_IP" \
    >"$TP_PKI/apiserver.ext"
  _sign apiserver "/CN=kube-apiserver" "$TP_PKI/apiserver.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s,IP:%s,IP:127.0.0.1\n' \
    "$NODE_NAME" "$NODE_IP" >"$TP_PKI/kubelet.ext"
  _sign kubelet "/CN=system:node:$NODE_NAME/O=system:nodes" "$TP_PKI/kubelet.ext"

  _client_cert admin kubernetes-admin system:masters
  _client_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  _client_cert controller-manager system:kube-controller-manager
  _client_cert scheduler system:kube-scheduler
  _client_cert kube-proxy system:kube-proxy
  _client_cert kubelet-client "system:node:$NODE_NAME" system:nodes

  openssl genrsa -out "$TP_PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$TP_PKI/sa.key" -pubout -out "$TP_PKI/sa.pub" 2>/dev/null

  local inside="https://$NODE_IP:6443"
  _kubeconfig "$TP_STATE/controller-manager.kubeconfig" "$inside" controller-manager
  _kubeconfig "$TP_STATE/scheduler.kubeconfig" "$inside" scheduler
  _kubeconfig "$TP_STATE/kube-proxy.kubeconfig" "$inside" kube-proxy
  _kubeconfig "$TP_STATE/kubelet.kubeconfig" "$inside" kubelet-client
  # Inside the node and in workstation namespaces the API server is at $NODE_IP; the host reaches
  # it through the loopback forwarder, so its kubeconfig names 127.0.0.1.
  _kubeconfig "$TP_STATE/node-admin.kubeconfig" "$inside" admin
  _kubeconfig "$TP_STATE/admin.kubeconfig" "https://127.0.0.1:$HOST_API_PORT" admin
  touch "$TP_PKI/done"
}
