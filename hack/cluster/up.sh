#!/usr/bin/env bash
# Starts a Kubernetes cluster on this machine, as root: etcd, kube-apiserver,
# controller-manager, scheduler, containerd 2, kubelet, kube-proxy and
# CoreDNS on the host (node 1), then NODES-1 worker nodes in network
# namespaces (node.sh), from binaries built by hack/build-bins.sh. A healthy
# running cluster with as many nodes is reused; anything else (dead PIDs,
# mounts, bridges, iptables rules from an earlier run) is cleaned up first.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID == 0 ]] || { echo "cluster-up needs root (containers, iptables, mounts)" >&2; exit 1; }

if running kube-apiserver && running kubelet && kubectl get --raw /readyz >/dev/null 2>&1 &&
  kubectl wait node --all --for=condition=Ready --timeout=5s >/dev/null 2>&1 &&
  [[ $(kubectl get nodes --no-headers 2>/dev/null | wc -l) == "$NODES" ]]; then
  log "cluster already running ($NODES node(s), the host $NODE at $NODE_IP); reusing it"
  "$ROOT/hack/cluster/images.sh"
  exit 0
fi
"$ROOT/hack/cluster/down.sh" --quiet
start=$SECONDS
mkdir -p "$PKI" "$LOGS" "$PIDS" "$STATE"/{etcd,kubelet,containerd,cni/net.d,cni/ipam,images}

log "certificates for $NODE ($NODE_IP)"
(cd "$ROOT" && go run ./hack/cluster/pki -dir "$PKI" -node-ip "$NODE_IP" -node-name "$NODE")

# Saved before the kubelet and kube-proxy change them; down.sh restores them.
for key in kernel.panic kernel.panic_on_oops vm.overcommit_memory net.ipv4.conf.all.route_localnet net.ipv4.ip_forward; do
  [[ -f $STATE/sysctl.$key ]] || sysctl -n "$key" >"$STATE/sysctl.$key"
done
sysctl -qw net.ipv4.ip_forward=1
# /run/netns becomes a shared mount point the first time `ip netns add`
# runs; pod namespaces mounted there before that would be hidden under it
# (and leak). Make it one now, before any pod exists.
mkdir -p /run/netns
mountpoint -q /run/netns || mount --bind --make-shared /run/netns /run/netns
# Bridged pod-to-pod traffic must pass iptables, where kube-router enforces
# NetworkPolicies.
modprobe br_netfilter 2>/dev/null || true
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || die "no net.bridge.bridge-nf-call-iptables: NetworkPolicies could not be enforced (br_netfilter)"
key=net.bridge.bridge-nf-call-iptables
[[ -f $STATE/sysctl.$key ]] || sysctl -n "$key" >"$STATE/sysctl.$key"
sysctl -qw "$key=1"

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

log "containerd"
cni_config "$STATE/cni/net.d/10-peering.conflist" "$BRIDGE" "$POD_CIDR" "$STATE/cni/ipam" true
containerd_config "$STATE/containerd/config.toml" "$STATE/containerd" "$CONTAINERD_SOCK" "$STATE/cni/net.d"
# containerd finds its runc shim on PATH: ours (containerd 2) must come first.
launch containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$STATE/containerd/config.toml"
wait_for "containerd" 30 "$BIN/ctr" --address "$CONTAINERD_SOCK" version
"$ROOT/hack/cluster/images.sh"

log "kubelet"
kubelet_config "$STATE/kubelet/config.yaml" "$CONTAINERD_SOCK" "$PKI/kubelet.crt" "$PKI/kubelet.key" "$NODE_IP"
launch kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$PKI/kubelet-client.kubeconfig" \
  --root-dir "$STATE/kubelet/root" --hostname-override "$NODE" --node-ip "$NODE_IP" \
  --node-labels "topology.kubernetes.io/zone=$(node_zone 1)"
wait_for "node $NODE Ready" 120 kubectl wait node "$NODE" --for=condition=Ready --timeout=2s
kubectl patch node "$NODE" --type merge -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null 2>&1 || true

log "kube-proxy"
kube_proxy_config "$STATE/kube-proxy.yaml" "$NODE"
launch kube-proxy "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml"
wait_for "kube-proxy" 60 curl -sf http://127.0.0.1:10256/healthz

log "kube-router (NetworkPolicies)"
kube_router "$NODE"
launch kube-router "${KUBE_ROUTER[@]}"
wait_for "kube-router" 60 curl -sf http://127.0.0.1:20244/healthz

log "CoreDNS"
kubectl apply --server-side -f "$ROOT/hack/cluster/coredns.yaml" >/dev/null
wait_for "CoreDNS Ready" 120 kubectl -n kube-system wait deployment/coredns --for=condition=Available --timeout=2s
for ((i = 2; i <= NODES; i++)); do "$ROOT/hack/cluster/node.sh" "$i"; done
log "cluster up in $((SECONDS - start))s ($NODES node(s)): export KUBECONFIG=$KUBECONFIG_ADMIN"
