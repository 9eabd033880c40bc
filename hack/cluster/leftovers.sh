#!/usr/bin/env bash
# Lists what a stopped local cluster left on this machine, and fails if it
# finds anything: processes, mounts, network namespaces, links, routes,
# iptables rules (the host's; worker nodes' go with their namespaces) and
# cgroups. CI runs it after make cluster-down.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
found=0
report() { # WHAT LINES
  [[ -z ${2//[[:space:]]/} ]] && return
  printf 'left behind: %s\n%s\n' "$1" "$2" >&2
  found=1
}
report "processes" "$(pgrep -af "^($BIN/|nsenter --mount=/proc/[0-9]+/ns/mnt --net=/run/netns/peering-node-|unshare --mount --propagation slave sleep)" 2>/dev/null)"
report "container shims" "$(pgrep -af "containerd-shim-runc-v2.* -address $STATE/" 2>/dev/null)"
report "mounts" "$(awk -v state="$STATE" '$2 == state || index($2, state "/") == 1 {print $2}' /proc/mounts)"
report "network namespaces" "$(ip netns list 2>/dev/null | awk '/^peering-node-/{print $1}')
$(pod_netns "${CLUSTER_CIDR%0.0/16}")"
# A pod namespace file that is no mount point is dead: a worker node's,
# whose mount namespace went without deleting it.
report "dead network namespace files" "$(for f in /run/netns/cni-*; do
  [[ -e $f ]] && ! mountpoint -q "$f" && echo "$f"
done)"
report "links" "$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E "^($BRIDGE|$NODE_BRIDGE|peeringv[0-9]+|cni-node[0-9]+)(@|$)")"
report "routes" "$(ip route show 2>/dev/null | grep -E "^${CLUSTER_CIDR%.0.0/16}\.|$NODE_NET\.")"
for table in nat filter mangle; do
  report "iptables $table rules" "$(iptables -t "$table" -S 2>/dev/null | grep -E '(CNI-|KUBE-|peering-nodes)')"
done
report "ipsets" "$(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router)')"
report "cgroups" "$(ls -d /sys/fs/cgroup/*/peering-node-* 2>/dev/null)"
report "sysctl backups" "$(ls "$STATE"/sysctl.* 2>/dev/null)"
if ((found)); then exit 1; fi
echo "nothing left behind by the local cluster"
