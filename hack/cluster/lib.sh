# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared by up.sh and down.sh: where the local cluster keeps its state.
# Sourced, not run.
# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
require_dir "the checkout" "$ROOT"
# Everything below $STATE may be unmounted and removed by down.sh.
STATE=${PEERING_CLUSTER_STATE:-/var/lib/simulated-peering}
require_dir PEERING_CLUSTER_STATE "$STATE"
STATE=${STATE%/}
BIN=$ROOT/bin
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids
KUBECONFIG_ADMIN=$PKI/admin.kubeconfig
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
BRIDGE=peering0
CLUSTER_CIDR=10.88.0.0/16 # every node's pod range is a /24 of it
POD_CIDR=10.88.0.0/24     # the host node's
SERVICE_CIDR=10.96.0.0/16
NODE=$(hostname | tr '[:upper:]' '[:lower:]')

# Nodes: the host is node 1 (the control plane; it runs pods too, as a
# single kind node does). NODES-1 more are worker nodes, each a network
# namespace with its own containerd, kubelet and kube-proxy (node.sh), on
# the bridge $NODE_BRIDGE: the host is $NODE_NET.1, node i is $NODE_NET.(10+i).
NODES=${NODES:-3}
[[ $NODES =~ ^[1-5]$ ]] || die "NODES=$NODES: want a number of nodes from 1 to 5"
NODE_BRIDGE=peeringn0
NODE_NET=172.31.0
node_name() { if (($1 == 1)); then echo "$NODE"; else echo "peering-node-$1"; fi; }
node_ip() { if (($1 == 1)); then echo "$NODE_IP"; else echo "$NODE_NET.$((10 + $1))"; fi; }
node_pod_cidr() { echo "10.88.$(($1 - 1)).0/24"; }
# Two nodes per zone: 3 nodes make zone-a (the host and node 2) and zone-b.
node_zone() { local zones=(a b c); echo "zone-${zones[($1 - 1) / 2]}"; }
# The API server advertises the primary interface's address: pods reach it
# through the bridge's gateway, and the `kubernetes` Service points at it.
NODE_IP=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[[ -n $NODE_IP ]] || NODE_IP=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')

log() { printf '%s >> %s\n' "$(date +%T)" "$*" >&2; }
kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 limit=$2 start=$SECONDS
  shift 2
  log "waiting for $what"
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > limit)); then
      log "gave up waiting for $what after ${limit}s; logs are in $LOGS"
      return 1
    fi
    sleep 0.5
  done
  log "$what after $((SECONDS - start))s"
}

running() { [[ -f ${2:-$PIDS}/$1.pid ]] && kill -0 "$(cat "${2:-$PIDS}/$1.pid")" 2>/dev/null; }

# launch NAME COMMAND...: runs a daemon in its own session, logging to
# $LOGS/NAME.log, its PID in $PIDS/NAME.pid (which down.sh stops); an
# earlier instance is stopped first.
launch() {
  local name=$1
  shift
  if running "$name"; then kill "$(cat "$PIDS/$name.pid")" 2>/dev/null; sleep 1; fi
  nohup setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}
