#!/usr/bin/env bash
# node.sh I: starts node I (1..NODES) of the local cluster, the way kind does
# with containers but with plain Linux namespaces:
#   - a network namespace named after the node, joined to the host by a veth
#     on the bridge $NODE_BRIDGE, with its own pod range on its own CNI
#     bridge and routes to every other node's range (pod traffic crosses
#     nodes unNATed, and every iptables rule and ipset of the node's
#     kube-proxy, kube-router and bridge plugin lives in its namespace);
#   - one private mount namespace (held by a sleeping process) in which its
#     containerd (own root, state, socket, CNI config, pod network
#     namespaces), kubelet (own root dir, pod logs, certificates, zone label)
#     kube-proxy and kube-router run, in the node's own cgroup.
# What it makes is recorded (PIDs with start times, the namespace's and the
# bridge's identities, the folders it made); down.sh removes exactly that.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID == 0 ]] || die "node.sh needs root"
i=${1:-}
[[ $i =~ ^[1-5]$ ]] || die "usage: node.sh I, with I from 1 to 5"
name=$(node_name "$i")
ip=$(node_ip "$i")
cidr=$(node_pod_cidr "$i")
dir=$STATE/nodes/$name
require_dir "node $name's folder" "$dir"
npids=$dir/pids
nlogs=$dir/logs
mkdir -p "$npids" "$nlogs" "$dir"/{containerd,cni/net.d,cni/ipam,cni/cache,kubelet,pod-logs,device-plugins,containers,run-containerd}
start=$SECONDS

# --- network -----------------------------------------------------------------
if [[ -z $(link_id "$NODE_BRIDGE") ]]; then
  ip link add "$NODE_BRIDGE" type bridge
  own link "$NODE_BRIDGE" "$(link_id "$NODE_BRIDGE")"
  ip addr add "$NODE_NET.1/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
fi
[[ $(owned link "$NODE_BRIDGE") == "$(link_id "$NODE_BRIDGE")" ]] || die "$NODE_BRIDGE is not this cluster's bridge"
if [[ -z $(netns_id "$name") ]]; then
  # The first `ip netns add` makes /run/netns a mount point of its own.
  make_dir /run/netns
  mountpoint -q /run/netns || own mount /run/netns -
  ip netns add "$name"
  own netns "$name" "$(netns_id "$name")"
fi
[[ $(owned netns "$name") == "$(netns_id "$name")" ]] || die "the network namespace $name is not this cluster's"
in_net() { nsenter --net="/run/netns/$name" "$@"; }
veth=peeringv$i
if [[ -n $(link_id "$veth") && $(owned link "$veth") == "$(link_id "$veth")" ]] && ! ip -n "$name" link show eth0 >/dev/null 2>&1; then
  ip link delete "$veth" # ours, to a namespace of an earlier run that lingers
fi
if [[ -z $(link_id "$veth") ]]; then
  ip link add "$veth" type veth peer name eth0 netns "$name"
  own link "$veth" "$(link_id "$veth")"
  ip link set "$veth" master "$NODE_BRIDGE" up
  ip -n "$name" addr add "$ip/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" link set lo up
  ip -n "$name" route add default via "$NODE_NET.1"
fi
# The host reaches each node's pods through the bridge (these routes go
# with it); nodes reach each other's pods directly.
ip route replace "$cidr" via "$ip" dev "$NODE_BRIDGE"
for ((j = 1; j <= NODES; j++)); do
  ((j == i)) && continue
  other=$(node_name "$j")
  ip -n "$name" route replace "$(node_pod_cidr "$j")" via "$(node_ip "$j")"
  [[ -e /run/netns/$other ]] && ip -n "$other" route replace "$cidr" via "$ip"
done
in_net sysctl -qw net.ipv4.ip_forward=1
# Bridged pod traffic must pass the node's iptables, where kube-router
# enforces NetworkPolicies. These sysctls are per network namespace; loading
# br_netfilter turns them on in the host's too, so a module we load is set
# back off there (as the host had it) and unloaded by down.sh.
if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
  modprobe br_netfilter || die "no br_netfilter: NetworkPolicies could not be enforced"
  own module br_netfilter -
  for key in bridge-nf-call-iptables bridge-nf-call-ip6tables bridge-nf-call-arptables; do
    sysctl -qw "net.bridge.$key=0"
  done
fi
in_net sysctl -qw net.bridge.bridge-nf-call-iptables=1

# --- the node's cgroup: the kubelet's cgroupRoot, its daemons' too -------------
make_cgroup "$CGROUP/$name"

# --- identity --------------------------------------------------------------
(cd "$ROOT" && go run ./hack/cluster/pki -dir "$PKI" -worker -node-name "$name" -node-ip "$ip" -server "https://$NODE_IP:6443")

# --- the node's mount namespace ----------------------------------------------
# Every daemon of the node runs in ONE private mount namespace (never
# `ip netns exec`, which remounts /sys and gives each call its own mounts,
# hiding the kubelet's volume mounts from containerd).
if ! running mounts "$npids"; then
  PIDS=$npids LOGS=$nlogs LAUNCH_CGROUP=$name launch mounts unshare --mount --propagation slave sleep infinity
  sleep 0.2
fi
holder=$(recorded_pid "$npids/mounts.pid") || die "the mount namespace of $name did not start"
# Paths the kubelet, containerd and the CNI plugins use whatever they are
# told (the kubelet deletes what is at the first): each node gets its own
# folder there, bound inside its mount namespace, so nothing of it lands in
# the machine's folders. The mount points are made (and recorded) if missing.
binds=(/var/lib/kubelet/device-plugins:device-plugins /var/log/containers:containers
  /var/lib/cni:cni/cache /run/containerd:run-containerd)
for bind in "${binds[@]}"; do
  make_dir "${bind%%:*}"
  # shellcheck disable=SC2016 # expanded by the inner shell
  nsenter --mount="/proc/$holder/ns/mnt" sh -c 'mountpoint -q "$1" || mount --bind "$2" "$1"' sh "${bind%%:*}" "$dir/${bind#*:}"
done
in_node() { nsenter --mount="/proc/$holder/ns/mnt" --net="/run/netns/$name" "$@"; }
launch_node() { # NAME COMMAND...: launch, inside the node and its cgroup, with its own PID and log files
  PIDS=$npids LOGS=$nlogs LAUNCH_CGROUP=$name launch "$1" nsenter --mount="/proc/$holder/ns/mnt" --net="/run/netns/$name" "${@:2}"
}

# --- containerd --------------------------------------------------------------
sock=$dir/containerd/containerd.sock
cni_config "$dir/cni/net.d/10-peering.conflist" "cni-node$i" "$cidr" "$dir/cni/ipam"
containerd_config "$dir/containerd/config.toml" "$dir/containerd" "$sock" "$dir/cni/net.d"
# containerd finds its runc shim on PATH: ours (containerd 2) must come first.
launch_node containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$dir/containerd/config.toml"
wait_for "containerd on $name" 30 "$BIN/ctr" --address "$sock" version
import_images "$sock"

# --- kubelet ---------------------------------------------------------------
kubelet_config "$dir/kubelet/config.yaml" "$name" "$dir" "$sock" "$ip"
launch_node kubelet "$BIN/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$PKI/nodes/$name/kubelet-client.kubeconfig" \
  --root-dir "$dir/kubelet/root" --hostname-override "$name" --node-ip "$ip" \
  --node-labels "topology.kubernetes.io/zone=$(node_zone "$i")"
wait_for "node $name registered" 60 kubectl get node "$name"
# No controller hands out pod ranges here: record the one its CNI uses.
kubectl patch node "$name" --type merge -p "{\"spec\":{\"podCIDR\":\"$cidr\",\"podCIDRs\":[\"$cidr\"]}}" >/dev/null 2>&1 || true

# --- kube-proxy, kube-router -------------------------------------------------
kube_proxy_config "$dir/kube-proxy.yaml" "$name"
launch_node kube-proxy "$BIN/kube-proxy" --config "$dir/kube-proxy.yaml"
wait_for "kube-proxy on $name" 60 in_node curl -sf http://127.0.0.1:10256/healthz
kube_router "$name"
launch_node kube-router "${KUBE_ROUTER[@]}"
wait_for "kube-router on $name" 60 in_node curl -sf http://127.0.0.1:20244/healthz
wait_for "node $name Ready" 120 kubectl wait node "$name" --for=condition=Ready --timeout=2s
log "node $name ($ip, pods $cidr, $(node_zone "$i")) up in $((SECONDS - start))s"
