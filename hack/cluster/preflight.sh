#!/usr/bin/env bash
# Refuses, with one line, to start the local cluster where it would mix with
# software that is not its own: another Kubernetes data plane (a kubelet or
# kube-proxy it did not start, the chains they make in this machine's
# iptables tables), a port of the control plane taken, an address range that
# overlaps a route or a podman network, or a name it would create (network
# namespace, bridge, cgroup) that exists and is not recorded as its own.
# up.sh runs it before it changes anything. It only reads.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

refuse() {
  echo "cluster-up: refusing to start: $*" >&2
  exit 1
}

# The PIDs of every process the cluster's PID files name.
ours=" "
for f in "$PIDS"/*.pid "$STATE"/nodes/*/pids/*.pid; do
  pid=$(recorded_pid "$f") && ours+="$pid "
done
ours() { [[ $ours == *" $1 "* ]]; }

# A kubelet or kube-proxy that is not ours: another Kubernetes on this machine.
for dir in /proc/[0-9]*; do
  comm=$(cat "$dir/comm" 2>/dev/null) || continue
  [[ $comm == kubelet* || $comm == kube-proxy* ]] || continue
  pid=${dir#/proc/}
  exe=$(readlink "$dir/exe" 2>/dev/null) || continue # exited (a zombie)
  ours "$pid" && continue
  refuse "a $comm this cluster did not start runs (pid $pid, $exe): another Kubernetes data plane is on this machine"
done

# The chains a kubelet or kube-proxy makes in the machine's own tables. This
# cluster never makes any there (every node's data plane is in its own
# network namespace), so they are someone else's. Other KUBE-* or CNI-*
# chains are left alone and do not stop it.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in nat filter mangle; do
    chain=$("$ipt" -w 5 -t "$table" -S 2>/dev/null |
      awk '$1 == "-N" && $2 ~ /^KUBE-(SERVICES|NODEPORTS|KUBELET-CANARY|PROXY-CANARY|FIREWALL|FORWARD)$/ {print $2; exit}')
    [[ -z $chain ]] || refuse "$ipt chain $chain in table $table belongs to another Kubernetes data plane on this machine (a kubelet or kube-proxy)"
  done
done

# The control plane's ports.
for port in 2379 2380 6443 10257 10259; do
  line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)
  [[ -n $line ]] || continue
  pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line" | head -n 1)
  [[ -n $pid ]] && ours "$pid" && continue
  refuse "port $port is taken by $(sed -n 's/.*users:((\("[^"]*"\).*/\1/p' <<<"$line") (pid ${pid:-?}): is another Kubernetes or etcd running?"
done

# Address ranges: the pods' /16 and the nodes' /24 must not overlap a route
# of this machine (other than the ones through our own bridge) nor a podman
# network, which would then be shared.
ip2int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) + (b << 16) + (c << 8) + d))
}
overlaps() { # CIDR CIDR
  local n1=${1#*/} n2=${2#*/} bits mask
  [[ $1 == */* ]] || n1=32
  [[ $2 == */* ]] || n2=32
  bits=$((n1 < n2 ? n1 : n2))
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  (($(($(ip2int "${1%/*}") & mask)) == $(($(ip2int "${2%/*}") & mask))))
}
bridge_ours=false
[[ -n $(link_id "$NODE_BRIDGE") && $(owned link "$NODE_BRIDGE") == "$(link_id "$NODE_BRIDGE")" ]] && bridge_ours=true
while read -r line; do
  read -ra words <<<"$line"
  case ${words[0]} in local | broadcast | unicast | unreachable | blackhole | prohibit | throw | anycast | multicast) words=("${words[@]:1}") ;; esac
  dst=${words[0]}
  [[ $dst =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]] || continue # default, and the like
  [[ $dst == 0.0.0.0/0 ]] && continue
  $bridge_ours && [[ " $line " == *" dev $NODE_BRIDGE "* ]] && continue
  for mine in "$CLUSTER_CIDR" "$NODE_NET.0/24"; do
    overlaps "$dst" "$mine" && refuse "this machine routes $dst (${line}), which overlaps the cluster's $mine; set PEERING_POD_CIDR to a free /16"
  done
done < <(ip -4 route show table all 2>/dev/null)
podman_nets=()
command -v podman >/dev/null && podman_nets+=(10.88.0.0/16) # its default network, not always in a file
for f in /etc/containers/networks/*.json /etc/cni/net.d/*.conf /etc/cni/net.d/*.conflist; do
  [[ -f $f ]] || continue
  while read -r net; do podman_nets+=("$net"); done < <(grep -o '"subnet": *"[0-9./]*"' "$f" | grep -o '[0-9][0-9./]*')
done
for net in "${podman_nets[@]}"; do
  overlaps "$net" "$CLUSTER_CIDR" && refuse "the pod range $CLUSTER_CIDR overlaps the container network $net of podman or CNI on this machine; set PEERING_POD_CIDR to a free /16"
done

# Names the cluster creates: taken by someone else?
for ((i = 1; i <= 5; i++)); do
  name=$(node_name "$i")
  id=$(netns_id "$name") || continue
  [[ $(owned netns "$name") == "$id" ]] || refuse "a network namespace named $name exists and is not this cluster's"
done
if [[ -n $(link_id "$NODE_BRIDGE") ]] && ! $bridge_ours; then
  refuse "a network link named $NODE_BRIDGE exists and is not this cluster's"
fi
for ((i = 1; i <= 5; i++)); do
  id=$(link_id "peeringv$i") || continue
  [[ -z $id || $(owned link "peeringv$i") == "$id" ]] || refuse "a network link named peeringv$i exists and is not this cluster's"
done
for dir in $(cgroup_dirs "$CGROUP"); do
  [[ -d $dir && -z $(owned cgroup "$CGROUP") ]] && refuse "the cgroup $dir exists and is not this cluster's"
done
exit 0
