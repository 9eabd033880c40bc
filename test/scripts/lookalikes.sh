#!/usr/bin/env bash
# Other software's look-alikes, for proving that the local cluster's scripts
# touch only what they made:
#
#   lookalikes.sh plant    a podman-style cni-* network namespace with a
#                          10.88.x address, processes named /pause and /server,
#                          a KUBE-* filter chain with a jump to it, a CNI-* nat
#                          chain with a jump to it, a KUBE-* ipset, and stale
#                          PID files in the cluster's state folder naming an
#                          unrelated live process (old and current format)
#   lookalikes.sh check    fails unless every one of them is still there
#   lookalikes.sh remove   removes them (by what plant recorded)
#
# What plant made is recorded in $LOOKALIKES (default
# /run/simulated-peering-lookalikes). The state folder is the cluster's
# (PEERING_CLUSTER_STATE).
set -euo pipefail
# shellcheck source=../../hack/cluster/lib.sh
source "$(dirname "$0")/../../hack/cluster/lib.sh"
dir=${LOOKALIKES:-/run/simulated-peering-lookalikes}
require_dir LOOKALIKES "$dir"
[[ $EUID == 0 ]] || die "lookalikes.sh needs root (namespaces, iptables)"

# spawn NAME ARGV0: a process whose command line starts with ARGV0, recorded
# as NAME.
spawn() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  nohup setsid bash -c 'exec -a "$0" sleep 86400' "$2" >/dev/null 2>&1 </dev/null &
  record_pid "$dir/$1.pid" "$!"
}

plant() {
  [[ -f $dir/tag ]] && die "look-alikes are planted already ($dir); run: lookalikes.sh remove"
  mkdir -p "$dir" "$PIDS" "$STATE/nodes/peering-node-2/pids"
  local tag
  tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  echo "$tag" >"$dir/tag"
  ip netns add "cni-$tag"
  ip -n "cni-$tag" link add eth0 type veth peer name eth1
  ip -n "cni-$tag" addr add 10.88.42.7/16 dev eth0
  spawn pause /pause
  spawn server /server
  spawn unrelated unrelated-daemon
  iptables -w 5 -N "KUBE-LA-$tag"
  iptables -w 5 -A INPUT -m comment --comment "look-alike $tag" -j "KUBE-LA-$tag"
  iptables -w 5 -t nat -N "CNI-LA-$tag"
  iptables -w 5 -t nat -A "CNI-LA-$tag" -j RETURN
  iptables -w 5 -t nat -A POSTROUTING -s 10.88.42.0/24 -m comment --comment "look-alike $tag" -j "CNI-LA-$tag"
  ipset create "KUBE-LA-$tag" hash:ip
  # Stale records naming the unrelated process: a PID alone (the old
  # format), and a PID with a start time that is not its own.
  local pid
  pid=$(recorded_pid "$dir/unrelated.pid")
  echo "$pid" >"$PIDS/kubelet.pid"
  echo "$pid 1 $BOOT_ID" >"$PIDS/etcd.pid"
  echo "$pid" >"$STATE/nodes/peering-node-2/pids/containerd.pid"
  echo "planted look-alikes tagged $tag (recorded in $dir)"
}

check() {
  local tag missing=()
  tag=$(cat "$dir/tag") || die "no look-alikes are planted ($dir)"
  for p in pause server unrelated; do recorded_pid "$dir/$p.pid" >/dev/null || missing+=("process $p"); done
  ip -n "cni-$tag" -4 -o addr show 2>/dev/null | grep -q ' inet 10\.88\.42\.7/' || missing+=("network namespace cni-$tag with 10.88.42.7")
  iptables -w 5 -S INPUT | grep -q -- "-j KUBE-LA-$tag" || missing+=("the jump to KUBE-LA-$tag")
  iptables -w 5 -S "KUBE-LA-$tag" >/dev/null 2>&1 || missing+=("chain KUBE-LA-$tag")
  iptables -w 5 -t nat -S POSTROUTING | grep -q -- "-j CNI-LA-$tag" || missing+=("the jump to nat CNI-LA-$tag")
  iptables -w 5 -t nat -S "CNI-LA-$tag" 2>/dev/null | grep -q -- '-j RETURN' || missing+=("nat chain CNI-LA-$tag")
  ipset list -n 2>/dev/null | grep -qx "KUBE-LA-$tag" || missing+=("ipset KUBE-LA-$tag")
  if ((${#missing[@]})); then
    printf 'look-alike removed: %s\n' "${missing[@]}" >&2
    exit 1
  fi
  echo "every look-alike ($tag) is intact"
}

remove() {
  local tag p pid
  tag=$(cat "$dir/tag" 2>/dev/null) || return 0
  for p in pause server unrelated; do
    if pid=$(recorded_pid "$dir/$p.pid"); then kill "$pid"; fi
  done
  ip netns delete "cni-$tag" 2>/dev/null || true
  iptables -w 5 -D INPUT -m comment --comment "look-alike $tag" -j "KUBE-LA-$tag" 2>/dev/null || true
  iptables -w 5 -X "KUBE-LA-$tag" 2>/dev/null || true
  iptables -w 5 -t nat -D POSTROUTING -s 10.88.42.0/24 -m comment --comment "look-alike $tag" -j "CNI-LA-$tag" 2>/dev/null || true
  iptables -w 5 -t nat -F "CNI-LA-$tag" 2>/dev/null || true
  iptables -w 5 -t nat -X "CNI-LA-$tag" 2>/dev/null || true
  ipset destroy "KUBE-LA-$tag" 2>/dev/null || true
  rm -rf "${dir:?}"
  echo "removed the look-alikes ($tag)"
}

case ${1:-} in
  plant) plant ;;
  check) check ;;
  remove) remove ;;
  *) die "usage: lookalikes.sh plant|check|remove" ;;
esac
