#!/usr/bin/env bash
# Stops the local cluster and removes what it changed on this machine: the
# worker nodes (their processes, containers, network namespaces, cgroups),
# every process it started on the host (by PID), containers and their shims,
# kubelet mounts, the bridges, routes, CNI and kube-proxy iptables rules, and
# the sysctls it changed. Safe to run over stale state from a run that was
# killed.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
quiet=false
[[ ${1:-} == --quiet ]] && quiet=true
[[ -d $STATE ]] || exit 0
$quiet || log "stopping the cluster in $STATE"

stop() { # name: TERM, then KILL after 10s
  local f=$PIDS/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# Worker nodes first (node.sh): everything of a node runs in its own mount
# and network namespaces, which go when its last process does.
for dir in "$STATE"/nodes/*/; do
  [[ -d $dir ]] || continue
  dir=${dir%/}
  name=${dir##*/}
  for daemon in kube-router kubelet kube-proxy; do PIDS=$dir/pids stop "$daemon"; done
  sock=$dir/containerd/containerd.sock
  running containerd "$dir/pids" && kill_containers "$sock"
  PIDS=$dir/pids stop containerd
  pkill -KILL -f "containerd-shim-runc-v2[^ ]* .*-address $sock" 2>/dev/null
  # Its pods' network namespaces are mounted in its own mount namespace
  # only: delete them there (those with an address in its pod range), or
  # their files stay in /run/netns after it is gone.
  range=$(awk -v n="$name" '$1 == n {print $2}' "$dir/range" 2>/dev/null)
  if [[ -n $range ]] && running mounts "$dir/pids"; then
    nsenter --mount="/proc/$(cat "$dir/pids/mounts.pid")/ns/mnt" bash -c \
      "$(declare -f pod_netns); for ns in \$(pod_netns '${range%.0/24}.'); do ip netns delete \"\$ns\"; done" 2>/dev/null
  fi
  PIDS=$dir/pids stop mounts
  ip netns delete "$name" 2>/dev/null # its veth goes with it
  # The kubelet's cgroupRoot, deepest first, in every hierarchy.
  for h in /sys/fs/cgroup/*/; do
    [[ -d $h$name ]] && find "$h$name" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "${dir:?}"/{containerd/root,containerd/state,kubelet,cni/ipam,runc,pod-logs}
done
ip link delete "$NODE_BRIDGE" 2>/dev/null # and the routes through it
for rule in $(iptables -t nat -S POSTROUTING 2>/dev/null | grep -n -- '--comment peering-nodes' | cut -d: -f1 | sort -rn); do
  iptables -t nat -D POSTROUTING "$((rule - 1))" 2>/dev/null # -S prints the policy first
done

for name in kustomize-controller source-controller gitserver kube-router kubelet kube-proxy; do stop "$name"; done
# Containers: kill every task while containerd still runs, then their shims.
running containerd && kill_containers "$CONTAINERD_SOCK"
for name in kube-scheduler kube-controller-manager kube-apiserver containerd etcd; do stop "$name"; done
pkill -KILL -f "containerd-shim-runc-v2[^ ]* .*-address $CONTAINERD_SOCK" 2>/dev/null # the cached binary has a version suffix
# Container processes whose shim died in a killed run.
for pid in $(pgrep -f "^/(server|operator|coredns|pause)( |$)" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done

# Mounts under the state folder (the kubelet bind-mounts its root dir, pods'
# volumes, containerd's rootfs), deepest first.
# Only $STATE itself and paths below it: an exact prefix, not a substring.
awk -v state="$STATE" '$2 == state || index($2, state "/") == 1 {print $2}' /proc/mounts | sort -r |
  while read -r m; do umount -l "$m" 2>/dev/null; done
# Pod network namespaces: only ours, those with an address in the cluster's
# pod range (other software's cni-* namespaces are left alone).
for ns in $(pod_netns "${CLUSTER_CIDR%0.0/16}"); do ip netns delete "$ns" 2>/dev/null; done

[[ -x $BIN/kube-proxy ]] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
ip link delete "$BRIDGE" 2>/dev/null
# What kube-proxy --cleanup leaves: the bridge plugin's CNI-* chains and the
# kubelet's own KUBE-* chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY).
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in nat filter mangle; do
    "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A .*(CNI-|KUBE-)' | sed 's/^-A/-D/' | while read -r rule; do eval "$ipt" -t "$table" "$rule" 2>/dev/null; done
    "$ipt" -t "$table" -S 2>/dev/null | awk '/^-N (CNI-|KUBE-)/{print $2}' | while read -r chain; do "$ipt" -t "$table" -F "$chain" 2>/dev/null; "$ipt" -t "$table" -X "$chain" 2>/dev/null; done
  done
done
# kube-router's ipsets, once no rule uses them (its own cleanup does not
# work in v2.1.0); a worker node's went with its network namespace.
if command -v ipset >/dev/null; then
  ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)' | while read -r set; do ipset destroy "$set" 2>/dev/null; done
fi
for f in "$STATE"/sysctl.*; do
  [[ -f $f ]] && sysctl -qw "${f#"$STATE"/sysctl.}=$(cat "$f")" 2>/dev/null && rm -f "$f"
done
# Cluster data goes; certificates and built images stay for the next start.
rm -rf "$STATE"/{etcd,kubelet,containerd/root,containerd/state,cni/ipam,git,flux} "$CONTAINERD_SOCK"
$quiet || log "cluster stopped"
exit 0
