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

# pod_netns PREFIX: the pod network namespaces (cni-*) with an address
# starting with PREFIX ("10.88." for every node's pods): ours, unlike other
# software's. A file that is no longer a namespace is skipped.
pod_netns() {
  local ns
  for ns in /run/netns/cni-*; do
    ns=${ns##*/}
    ip -n "$ns" -4 -o addr show 2>/dev/null | grep -q " inet ${1//./\\.}" && echo "$ns"
  done
  return 0
}

# kill_containers SOCKET: kills every container of the containerd at
# SOCKET while it still runs, then deletes them (their shims then exit).
kill_containers() {
  local ctr=("$BIN/ctr" --address "$1" -n k8s.io) t c
  for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1; done
  sleep 1
  for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers delete "$c" >/dev/null 2>&1; done
}

# import_images SOCKET: imports every image images.sh built into the
# containerd at SOCKET.
import_images() {
  local tar
  for tar in "$STATE"/images/*.tar; do
    "$BIN/ctr" --address "$1" -n k8s.io images import "$tar" >/dev/null 2>>"$LOGS/ctr.log"
  done
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

# kube_router NODE: sets KUBE_ROUTER to the command of kube-router's
# NetworkPolicy controller alone, for the node whose network namespace it
# runs in (each node's iptables rules and ipsets are its own). Its service
# proxy, router and load balancer stay off: kube-proxy and the bridge plugin
# do those jobs here. NODE_NAME, not only --hostname-override: kube-router
# tries the machine's hostname first, which is the host node's name, so
# every worker would enforce the host's pods instead of its own.
kube_router() {
  KUBE_ROUTER=(env NODE_NAME="$1" "$BIN/kube-router" --kubeconfig "$KUBECONFIG_ADMIN" --hostname-override "$1"
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false
    --service-cluster-ip-range "$SERVICE_CIDR")
}

# The configuration files every node writes (the host in up.sh, workers in
# node.sh): the same settings, with each node's own paths and names.

# cni_config FILE BRIDGE SUBNET IPAM_DIR MASQUERADE: a bridge network with
# hairpin (a pod reaches its own Service) and host-local addresses.
cni_config() {
  cat >"$1" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "peering",
  "plugins": [
    {"type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": $5, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$4", "ranges": [[{"subnet": "$3"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
}

# containerd_config FILE DIR SOCKET CNI_DIR [EXTRA]: containerd 2 with its
# root and state below DIR; EXTRA is appended (a worker's own runc root).
containerd_config() {
  cat >"$1" <<TOML
version = 3
root = "$2/root"
state = "$2/state"
[grpc]
  address = "$3"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "docker.io/simulated-peering/pause:local"
[plugins."io.containerd.cri.v1.runtime"]
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$4"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    SystemdCgroup = false
${5:-}
TOML
}

# kubelet_config FILE SOCKET CERT KEY ADDRESS [EXTRA]: cgroup v1 with
# cgroupfs, webhook authn/authz, the cluster DNS; EXTRA lines are appended.
kubelet_config() {
  cat >"$1" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$2
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $3
tlsPrivateKeyFile: $4
address: $5
healthzBindAddress: 127.0.0.1
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
${6:-}
YAML
}

# kube_proxy_config FILE NODE: iptables mode over the whole pod range.
kube_proxy_config() {
  cat >"$1" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $2
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
}
