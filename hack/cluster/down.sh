#!/usr/bin/env bash
# Stops the local cluster and removes what it recorded as its own, by
# identity, never by what a thing looks like: processes its PID files name
# (PID, start time and boot ID must all match), then whatever is left in its
# cgroups (its daemons, shims and containers: nothing else is put there);
# network namespaces and the bridge whose recorded identity still matches
# (their veths, routes, iptables rules and ipsets go with them); mounts
# below its state folder; the folders it made; the sysctls and module it
# changed. Safe to run twice, and over stale state from a killed run or a
# reboot: a record that names nothing of ours is dropped, not acted on.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
quiet=false
[[ ${1:-} == --quiet ]] && quiet=true
[[ -d $STATE ]] || exit 0
$quiet || log "stopping the cluster in $STATE"

# Nodes first: their daemons (by PID), their containers while containerd
# still runs, then everything left in the node's cgroup, which ends its
# mount namespace (and the mounts in it); then its network namespace.
for dir in "$STATE"/nodes/*/; do
  [[ -d $dir ]] || continue
  dir=${dir%/}
  name=${dir##*/}
  for daemon in kube-router kubelet kube-proxy; do stop "$daemon" "$dir/pids"; done
  running containerd "$dir/pids" && kill_containers "$dir/containerd/containerd.sock"
  for daemon in containerd mounts; do stop "$daemon" "$dir/pids"; done
  for f in "$dir"/pids/*.pid; do [[ -f $f ]] && stop "$(basename "$f" .pid)" "$dir/pids"; done
  # Cgroup names are the machine's, not this state folder's: only a cgroup
  # tree this cluster recorded making is emptied.
  [[ -n $(owned cgroup "$CGROUP") ]] && remove_cgroup "$CGROUP/$name"
  id=$(netns_id "$name")
  [[ -n $id && $(owned netns "$name") == "$id" ]] && ip netns delete "$name" # its veth goes with it
  forget netns "$name"
  # Nothing mounted below the node's folder may be left when it is removed
  # (its mounts live in its own mount namespace, gone by now; this is for
  # a host-visible one from a killed run), deepest first.
  awk -v d="$dir" 'index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "${dir:?}"/{containerd/root,containerd/state,containerd/runc,containerd/containerd.sock,kubelet,cni/ipam,cni/cache,pod-logs,containers,run-containerd}
done
# The nodes' veths, then the bridge (and the routes through it). A veth
# usually goes with its namespace, but a namespace lingers while the
# kernel still retransmits on its orphaned sockets (minutes, after a lossy
# test); deleting our end frees it now.
for link in $( [[ -f $STATE/owned ]] && awk '$1 == "link" {print $2}' "$STATE/owned" | sort -u); do
  [[ $link == "$NODE_BRIDGE" ]] && continue
  id=$(link_id "$link")
  [[ -n $id && $(owned link "$link") == "$id" ]] && ip link delete "$link"
  forget link "$link"
done
id=$(link_id "$NODE_BRIDGE")
[[ -n $id && $(owned link "$NODE_BRIDGE") == "$id" ]] && ip link delete "$NODE_BRIDGE"
forget link "$NODE_BRIDGE"

# The control plane, and what runs beside it in GitOps mode.
for name in kustomize-controller source-controller gitserver kube-scheduler kube-controller-manager kube-apiserver etcd; do
  stop "$name"
done
for f in "$PIDS"/*.pid; do [[ -f $f ]] && stop "$(basename "$f" .pid)"; done
if [[ -n $(owned cgroup "$CGROUP") ]]; then
  remove_cgroup "$CGROUP/control-plane"
  remove_cgroup "$CGROUP"
fi
forget cgroup "$CGROUP"

# Mounts under the state folder (a killed run's kubelet or containerd may
# have left some where the host sees them), deepest first. Only $STATE
# itself and paths below it: an exact prefix, not a substring.
awk -v state="$STATE" '$2 == state || index($2, state "/") == 1 {print $2}' /proc/mounts | sort -r |
  while read -r m; do umount -l "$m" 2>/dev/null; done
# /run/netns became a mount point with our first network namespace: undone
# when no namespace is left in it.
if [[ -n $(owned mount /run/netns) ]]; then
  [[ -z $(ls -A /run/netns 2>/dev/null) ]] && mountpoint -q /run/netns && umount /run/netns
  forget mount /run/netns
fi
# Folders made as mount points (make_dir), deepest first, when empty.
if [[ -f $STATE/made-dirs ]]; then
  sort -r -u "$STATE/made-dirs" | while read -r made; do
    require_dir "a folder the cluster made" "$made"
    rmdir "$made" 2>/dev/null
  done
  rm -f "$STATE/made-dirs"
fi
if [[ -n $(owned module br_netfilter) ]]; then
  modprobe -r br_netfilter 2>/dev/null
  forget module br_netfilter
fi
for f in "$STATE"/sysctl.*; do
  [[ -f $f ]] && sysctl -qw "${f#"$STATE"/sysctl.}=$(cat "$f")" 2>/dev/null && rm -f "$f"
done
# Cluster data goes; certificates and built images stay for the next start.
rm -rf "$STATE"/{etcd,git,flux}
$quiet || log "cluster stopped"
exit 0
