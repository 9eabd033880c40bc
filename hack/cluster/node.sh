#!/usr/bin/env bash
# node.sh I: starts worker node I (2..NODES) of the local cluster, the way
# kind does with containers but with plain Linux namespaces:
#   - a network namespace named after the node, joined to the host by a veth
#     on the bridge $NODE_BRIDGE, with its own pod range on its own CNI
#     bridge and routes to every other node's range (pod traffic crosses
#     nodes unNATed);
#   - one private mount namespace (held by a sleeping process) in which its
#     containerd (own root, state, socket, CNI config), kubelet (own root
#     dir, cgroup root, pod logs, certificates, zone label) and kube-proxy
#     (its iptables rules live in the node's network namespace) run.
# down.sh removes all of it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[[ $EUID == 0 ]] || die "node.sh needs root"
i=${1:-}
[[ $i =~ ^[2-9]$ ]] || die "usage: node.sh I, with I from 2 to NODES"
name=$(node_name "$i")
ip=$(node_ip "$i")
cidr=$(node_pod_cidr "$i")
dir=$STATE/nodes/$name
require_dir "node $name's folder" "$dir"
npids=$dir/pids
nlogs=$dir/logs
mkdir -p "$npids" "$nlogs" "$dir"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs,device-plugins}
echo "$name $cidr" >"$dir/range" # down.sh deletes the pod namespaces in it
start=$SECONDS

# --- network -----------------------------------------------------------------
if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_NET.1/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
fi
# Host pods reach other nodes' pods unNATed: return before the host bridge
# plugin's masquerade (kube-proxy's jump stays first).
iptables -t nat -C POSTROUTING -s "$POD_CIDR" -d "$CLUSTER_CIDR" -m comment --comment peering-nodes -j RETURN 2>/dev/null ||
  iptables -t nat -I POSTROUTING 2 -s "$POD_CIDR" -d "$CLUSTER_CIDR" -m comment --comment peering-nodes -j RETURN
[[ -e /run/netns/$name ]] || ip netns add "$name"
in_net() { nsenter --net="/run/netns/$name" "$@"; }
veth=peeringv$i
if ! ip link show "$veth" >/dev/null 2>&1; then
  ip link add "$veth" type veth peer name eth0 netns "$name"
  ip link set "$veth" master "$NODE_BRIDGE" up
  ip -n "$name" addr add "$ip/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" link set lo up
  ip -n "$name" route add default via "$NODE_NET.1"
fi
ip route replace "$cidr" via "$ip"
# Direct routes between worker nodes (the host's range goes by the default route).
for ((j = 2; j <= NODES; j++)); do
  ((j == i)) && continue
  other=$(node_name "$j")
  ip -n "$name" route replace "$(node_pod_cidr "$j")" via "$(node_ip "$j")"
  [[ -e /run/netns/$other ]] && ip -n "$other" route replace "$cidr" via "$ip"
done
in_net sysctl -qw net.ipv4.ip_forward=1
modprobe br_netfilter 2>/dev/null || true
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && in_net sysctl -qw net.bridge.bridge-nf-call-iptables=1

# --- cgroups: the kubelet's cgroupRoot, in every v1 hierarchy -----------------
for h in /sys/fs/cgroup/*/; do
  [[ -L ${h%/} ]] && continue # cpu -> cpu,cpuacct and the like
  mkdir -p "$h$name"
  if [[ -f ${h}cpuset.cpus ]]; then
    cat "${h}cpuset.cpus" >"$h$name/cpuset.cpus"
    cat "${h}cpuset.mems" >"$h$name/cpuset.mems"
  fi
done

# --- identity --------------------------------------------------------------
(cd "$ROOT" && go run ./hack/cluster/pki -dir "$PKI" -worker -node-name "$name" -node-ip "$ip" -server "https://$NODE_IP:6443")
npki=$PKI/nodes/$name

# --- the node's mount namespace ----------------------------------------------
# Every daemon of the node runs in ONE private mount namespace (never
# `ip netns exec`, which remounts /sys and gives each call its own mounts,
# hiding the kubelet's volume mounts from containerd).
if ! running mounts "$npids"; then
  nohup setsid unshare --mount --propagation slave sleep infinity >/dev/null 2>&1 </dev/null &
  echo $! >"$npids/mounts.pid"
  sleep 0.2
fi
holder=$(cat "$npids/mounts.pid")
in_node() { nsenter --mount="/proc/$holder/ns/mnt" --net="/run/netns/$name" "$@"; }
# The kubelet always uses /var/lib/kubelet/device-plugins/kubelet.sock and
# deletes what is there: give this node its own folder at that path.
mkdir -p /var/lib/kubelet/device-plugins
nsenter --mount="/proc/$holder/ns/mnt" sh -c "mountpoint -q /var/lib/kubelet/device-plugins || mount --bind '$dir/device-plugins' /var/lib/kubelet/device-plugins"
launch_node() { # NAME COMMAND...: launch, inside the node, with its own PID and log files
  PIDS=$npids LOGS=$nlogs launch "$1" nsenter --mount="/proc/$holder/ns/mnt" --net="/run/netns/$name" "${@:2}"
}

# --- containerd --------------------------------------------------------------
sock=$dir/containerd/containerd.sock
# No masquerade: pod traffic crosses nodes unNATed.
cni_config "$dir/cni/net.d/10-peering.conflist" "cni-node$i" "$cidr" "$dir/cni/ipam" false
containerd_config "$dir/containerd/config.toml" "$dir/containerd" "$sock" "$dir/cni/net.d" \
  "    Root = \"$dir/runc\"
[plugins.\"io.containerd.nri.v1.nri\"]
  disable = true # the host's containerd owns /var/run/nri/nri.sock"
launch_node containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$dir/containerd/config.toml"
wait_for "containerd on $name" 30 "$BIN/ctr" --address "$sock" version
import_images "$sock"

# --- kubelet ---------------------------------------------------------------
kubelet_config "$dir/kubelet/config.yaml" "$sock" "$npki/kubelet.crt" "$npki/kubelet.key" "$ip" \
  "cgroupRoot: /$name
podLogsDir: $dir/pod-logs"
launch_node kubelet "$BIN/kubelet" --config "$dir/kubelet/config.yaml" --kubeconfig "$npki/kubelet-client.kubeconfig" \
  --root-dir "$dir/kubelet/root" --hostname-override "$name" --node-ip "$ip" \
  --node-labels "topology.kubernetes.io/zone=$(node_zone "$i")"
wait_for "node $name registered" 60 kubectl get node "$name"
# No controller hands out pod ranges here: record the one its CNI uses.
kubectl patch node "$name" --type merge -p "{\"spec\":{\"podCIDR\":\"$cidr\",\"podCIDRs\":[\"$cidr\"]}}" >/dev/null 2>&1 || true

# --- kube-proxy --------------------------------------------------------------
kube_proxy_config "$dir/kube-proxy.yaml" "$name"
launch_node kube-proxy "$BIN/kube-proxy" --config "$dir/kube-proxy.yaml"
wait_for "kube-proxy on $name" 60 in_node curl -sf http://127.0.0.1:10256/healthz
kube_router "$name"
launch_node kube-router "${KUBE_ROUTER[@]}"
wait_for "kube-router on $name" 60 in_node curl -sf http://127.0.0.1:20244/healthz
wait_for "node $name Ready" 120 kubectl wait node "$name" --for=condition=Ready --timeout=2s
log "node $name ($ip, pods $cidr, $(node_zone "$i")) up in $((SECONDS - start))s"
