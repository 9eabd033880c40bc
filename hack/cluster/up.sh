#!/usr/bin/env bash
# Starts a Kubernetes cluster on this machine, as root: etcd, kube-apiserver,
# controller-manager and scheduler on the host, then NODES nodes (node.sh),
# each a network namespace with its own containerd, kubelet, kube-proxy and
# kube-router, from binaries built by hack/build-bins.sh; then CoreDNS. A
# healthy running cluster with as many nodes is reused; an unhealthy one
# (dead PIDs, mounts from a killed run) is stopped first by down.sh, which
# removes only what the cluster recorded as its own. preflight.sh refuses to
# start over another Kubernetes or a shared address range.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID == 0 ]] || { echo "cluster-up needs root (containers, namespaces, mounts)" >&2; exit 1; }
"$ROOT/hack/cluster/preflight.sh"

if running kube-apiserver && kubectl get --raw /readyz >/dev/null 2>&1 &&
  kubectl wait node --all --for=condition=Ready --timeout=5s >/dev/null 2>&1 &&
  [[ $(kubectl get nodes --no-headers 2>/dev/null | wc -l) == "$NODES" ]]; then
  log "cluster already running ($NODES node(s), the API server at $NODE_IP); reusing it"
  "$ROOT/hack/cluster/images.sh"
  exit 0
fi
"$ROOT/hack/cluster/down.sh" --quiet
start=$SECONDS
mkdir -p "$PKI" "$LOGS" "$PIDS" "$STATE"/{etcd,images}

log "certificates (API server at $NODE_IP)"
(cd "$ROOT" && go run ./hack/cluster/pki -dir "$PKI" -node-ip "$NODE_IP" -node-name "$(hostname | tr '[:upper:]' '[:lower:]')")

# The kubelets set these machine-wide sysctls (every other one they or
# kube-proxy touch is per network namespace): saved first, restored by down.sh.
for key in kernel.panic kernel.panic_on_oops vm.overcommit_memory; do
  [[ -f $STATE/sysctl.$key ]] || sysctl -n "$key" >"$STATE/sysctl.$key"
done
# The cluster's cgroup, where every process it starts lives.
make_cgroup "$CGROUP/control-plane"

log "etcd"
launch etcd "$BIN/etcd" --data-dir "$STATE/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380 \
  --unsafe-no-fsync --log-level warn
wait_for "etcd" 30 curl -sf http://127.0.0.1:2379/health

log "kube-apiserver"
launch kube-apiserver "$BIN/kube-apiserver" --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$NODE_IP" \
  --etcd-servers http://127.0.0.1:2379 --service-cluster-ip-range "$SERVICE_CIDR" \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP,Hostname \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction,OwnerReferencesPermissionEnforcement --allow-privileged=true
wait_for "kube-apiserver /readyz" 120 kubectl get --raw /readyz

log "kube-controller-manager, kube-scheduler"
launch kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
  --leader-elect=false --use-service-account-credentials --service-account-private-key-file "$PKI/sa.key" \
  --root-ca-file "$PKI/ca.crt" --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --bind-address 127.0.0.1 --secure-port 10257
launch kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI/scheduler.kubeconfig" --authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
  --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259

"$ROOT/hack/cluster/images.sh"
for ((i = 1; i <= NODES; i++)); do "$ROOT/hack/cluster/node.sh" "$i"; done

log "CoreDNS"
kubectl apply --server-side -f "$ROOT/hack/cluster/coredns.yaml" >/dev/null
wait_for "CoreDNS Ready" 120 kubectl -n kube-system wait deployment/coredns --for=condition=Available --timeout=2s
log "cluster up in $((SECONDS - start))s ($NODES node(s)): export KUBECONFIG=$KUBECONFIG_ADMIN"
