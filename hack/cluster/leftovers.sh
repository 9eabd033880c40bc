#!/usr/bin/env bash
# Checks what a stopped local cluster left on this machine, and fails if it
# finds anything of its own: processes of its binaries, records naming live
# processes, mounts, network namespaces, links, routes, iptables rules,
# cgroups, folders, sysctl backups.
#
#   leftovers.sh --snapshot FILE   before make cluster-up: record what the
#                                  machine has (iptables rules, ipsets, network
#                                  namespaces, links, routes, mounts)
#   leftovers.sh [--compare FILE]  after make cluster-down: nothing of ours is
#                                  left and, with FILE, all that was there
#                                  before is still there
#
# CI runs both around make e2e.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# machine: what other software has, one "section: line" each.
machine() {
  local ipt table
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in raw mangle nat filter; do "$ipt" -w 5 -t "$table" -S 2>/dev/null | sed "s/^/$ipt $table: /"; done
  done
  command -v ipset >/dev/null && ipset list -n 2>/dev/null | sed 's/^/ipset: /'
  ip netns list 2>/dev/null | awk '{print "netns: " $1}'
  ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link: " $2}'
  ip route show table all 2>/dev/null | sed 's/^/route: /'
  awk '{print "mount: " $2}' /proc/mounts
}

case ${1:-} in
  --snapshot)
    [[ -n ${2:-} ]] || die "usage: leftovers.sh --snapshot FILE"
    machine | sort -u >"$2"
    echo "recorded $(wc -l <"$2") lines of this machine's state in $2"
    exit 0
    ;;
  --compare) [[ -f ${2:-} ]] || die "usage: leftovers.sh --compare FILE (a --snapshot)" ;;
  "") ;;
  *) die "usage: leftovers.sh [--snapshot FILE | --compare FILE]" ;;
esac

found=0
report() { # WHAT LINES
  [[ -z ${2//[[:space:]]/} ]] && return
  printf 'left behind: %s\n%s\n' "$1" "$2" >&2
  found=1
}
cache=${XDG_CACHE_HOME:-${HOME:?}/.cache}/simulated-peering/bin
report "processes of the cluster's binaries" "$(for exe in /proc/[0-9]*/exe; do
  target=$(readlink "$exe" 2>/dev/null) || continue
  [[ $target == "$cache"/* || $target == "$BIN"/* ]] && echo "${exe%/exe}: $target"
done)"
report "records of live processes" "$(for f in "$PIDS"/*.pid "$STATE"/nodes/*/pids/*.pid; do
  recorded_pid "$f" >/dev/null && echo "$f"
done)"
report "records of what the cluster made" "$(cat "$STATE/owned" "$STATE/made-dirs" 2>/dev/null)"
report "cgroups" "$(for dir in $(cgroup_dirs "$CGROUP"); do [[ -d $dir ]] && echo "$dir"; done)"
report "mounts" "$(awk -v state="$STATE" '$2 == state || index($2, state "/") == 1 {print $2}' /proc/mounts)"
report "network namespaces" "$(ip netns list 2>/dev/null | awk '/^peering-node-[0-9]/{print $1}')"
report "links" "$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -E "^($NODE_BRIDGE|peeringv[0-9]+)(@|$)")"
report "routes" "$(ip route show table all 2>/dev/null | grep -E "^${CLUSTER_CIDR%.0.0/16}\.|$NODE_NET\.|dev $NODE_BRIDGE")"
for table in raw mangle nat filter; do
  report "iptables $table rules" "$(iptables -w 5 -t "$table" -S 2>/dev/null | grep -E "${CLUSTER_CIDR%.0.0/16}\.|$NODE_NET\.|$NODE_BRIDGE|peering")"
done
report "sysctl backups" "$(ls "$STATE"/sysctl.* 2>/dev/null)"
if [[ ${1:-} == --compare ]]; then
  report "gone since the snapshot (not ours, and removed)" "$(comm -23 "$2" <(machine | sort -u))"
fi
if ((found)); then exit 1; fi
echo "nothing left behind by the local cluster${2:+, and everything in $2 is still there}"
