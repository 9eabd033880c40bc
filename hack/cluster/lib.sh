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
# Every node's pod range is a /24 of this /16 (node i: the i-th /24). Not
# podman's default 10.88.0.0/16; preflight.sh refuses a range that overlaps
# a route or a podman network on this machine.
CLUSTER_CIDR=${PEERING_POD_CIDR:-10.244.0.0/16}
if ! [[ $CLUSTER_CIDR =~ ^(10\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|172\.(1[6-9]|2[0-9]|3[01])|192\.168)\.0\.0/16$ ]]; then
  die "PEERING_POD_CIDR=$CLUSTER_CIDR: want a private /16 such as 10.244.0.0/16"
fi
SERVICE_CIDR=10.96.0.0/16
# The control plane runs on the machine (no node of its own); every node,
# node 1 included, is a network namespace on the bridge $NODE_BRIDGE (node.sh):
# the host is $NODE_NET.1, node i is $NODE_NET.(10+i). So the machine's own
# iptables tables, ipsets and pod networks are never touched.
NODES=${NODES:-3}
[[ $NODES =~ ^[1-5]$ ]] || die "NODES=$NODES: want a number of nodes from 1 to 5"
NODE_BRIDGE=peeringn0
NODE_NET=172.31.0
node_name() { echo "peering-node-$1"; }
node_ip() { echo "$NODE_NET.$((10 + $1))"; }
node_pod_cidr() { local base=${CLUSTER_CIDR%.0.0/16}; echo "$base.$(($1 - 1)).0/24"; }
# Two nodes per zone: 3 nodes make zone-a (nodes 1 and 2) and zone-b.
node_zone() { local zones=(a b c); echo "zone-${zones[($1 - 1) / 2]}"; }
# The API server advertises the primary interface's address: nodes reach it
# through their default route to the host, and the `kubernetes` Service
# points at it.
NODE_IP=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[[ -n $NODE_IP ]] || NODE_IP=$(ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}')
# Every process the cluster runs lives in a cgroup below this one (in every
# cgroup v1 hierarchy): the control plane's, and one per node, which is that
# kubelet's cgroupRoot, so its containers and shims are there too.
CGROUP=simulated-peering

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

# --- what the cluster owns, recorded when it is made -------------------------
# A process is ours when its PID file names it: PID, start time (field 22 of
# /proc/PID/stat, in clock ticks since boot) and boot ID. A PID reused by
# another process, or a file from before a reboot, names nothing of ours.
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)

# proc_start PID: the process's start time; fails when there is no such process.
proc_start() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<<"${stat##*) }" # after the command name, which may hold ") "
  [[ ${fields[19]:-} =~ ^[0-9]+$ ]] || return 1
  echo "${fields[19]}"
}

# record_pid FILE PID: FILE now names that process.
record_pid() {
  local start
  start=$(proc_start "$2") || die "process $2 exited before it could be recorded in $1"
  echo "$2 $start $BOOT_ID" >"$1"
}

# recorded_pid FILE: prints the PID FILE names when that process still runs
# (same start time, same boot); fails otherwise.
recorded_pid() {
  local pid start boot
  [[ -f $1 ]] && read -r pid start boot _ <"$1" 2>/dev/null || return 1
  [[ $pid =~ ^[1-9][0-9]*$ && $boot == "$BOOT_ID" ]] || return 1
  [[ $(proc_start "$pid") == "$start" ]] || return 1
  echo "$pid"
}

running() { recorded_pid "${2:-$PIDS}/$1.pid" >/dev/null; }

# stop NAME [DIR]: TERM to the process DIR/NAME.pid names (and its process
# group: launch made it a session leader), then KILL after 10 s; a file that
# names no process of ours is only removed.
stop() {
  local f=${2:-$PIDS}/$1.pid pid
  if pid=$(recorded_pid "$f"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do recorded_pid "$f" >/dev/null || break; sleep 0.5; done
    if recorded_pid "$f" >/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; fi
  fi
  rm -f "$f"
}

# cgroup_dirs REL: REL's folder in every cgroup hierarchy (not the aliases).
cgroup_dirs() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -L ${h%/} || ! -f ${h}cgroup.procs ]] || echo "$h$1"
  done
}

# make_cgroup REL: creates REL (below $CGROUP) in every hierarchy, each
# level's cpuset copied from its parent (a v1 cpuset cgroup starts empty);
# $CGROUP itself is recorded as the cluster's when this makes it.
make_cgroup() {
  local dir level parent
  if [[ -z $(owned cgroup "$CGROUP") ]]; then
    for dir in $(cgroup_dirs "$CGROUP"); do
      [[ -d $dir ]] && die "the cgroup $dir exists and is not this cluster's"
    done
    own cgroup "$CGROUP" -
  fi
  while read -r dir; do
    parent=${dir%/"$1"}
    for level in ${1//\// }; do
      mkdir -p "$parent/$level"
      if [[ -f $parent/cpuset.cpus && -z $(cat "$parent/$level/cpuset.cpus") ]]; then
        cat "$parent/cpuset.cpus" >"$parent/$level/cpuset.cpus"
        cat "$parent/cpuset.mems" >"$parent/$level/cpuset.mems"
      fi
      parent=$parent/$level
    done
  done < <(cgroup_dirs "$1")
}

# cgroup_pids REL: every process in REL's tree (from the pids hierarchy, or
# whichever has the tree).
cgroup_pids() {
  local dir
  for dir in $(cgroup_dirs "$1"); do
    [[ -d $dir ]] && find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null && return 0
  done
  return 0
}

# remove_cgroup REL: kills every process left in REL's tree (the cluster's
# own: nothing else is put there), then removes its folders, deepest first.
remove_cgroup() {
  local pids dir
  for _ in $(seq 20); do
    pids=$(cgroup_pids "$1" | sort -u)
    [[ -z $pids ]] && break
    # shellcheck disable=SC2086 # one PID per word
    kill -KILL $pids 2>/dev/null
    sleep 0.25
  done
  for dir in $(cgroup_dirs "$1"); do
    [[ -d $dir ]] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}

# launch NAME COMMAND...: runs a daemon in its own session and in cgroup
# $CGROUP/${LAUNCH_CGROUP:-control-plane} (joined before it starts, so its
# children are there too), logging to $LOGS/NAME.log, its identity in
# $PIDS/NAME.pid (which stop and down.sh act on); an earlier instance is
# stopped first.
launch() {
  local name=$1 cg=$CGROUP/${LAUNCH_CGROUP:-control-plane}
  shift
  running "$name" && stop "$name"
  make_cgroup "$cg"
  # shellcheck disable=SC2016 # expanded by the inner shell
  nohup setsid bash -c 'while read -r d; do echo $$ >"$d/cgroup.procs"; done <<<"$0"; exec "$@"' \
    "$(cgroup_dirs "$cg")" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  record_pid "$PIDS/$name.pid" "$!"
}

# make_dir PATH: mkdir -p that records in $STATE/made-dirs each folder it
# made (down.sh removes them again, deepest first, when they are empty).
make_dir() {
  local path=$1 missing=()
  while [[ ! -e $path ]]; do missing=("$path" "${missing[@]}"); path=$(dirname "$path"); done
  for path in "${missing[@]}"; do mkdir "$path" && echo "$path" >>"$STATE/made-dirs"; done
  [[ -d $1 ]]
}

# own KIND NAME ID: records in $STATE/owned that the cluster made NAME (a
# netns, link, cgroup, mount or module), with the identity it had when made
# and the boot it was made in; owned KIND NAME prints that identity, and
# nothing for what the cluster did not make in this boot; forget KIND NAME
# drops the record once the thing is gone.
own() { echo "$1 $2 $3 $BOOT_ID" >>"$STATE/owned"; }
owned() {
  [[ -f $STATE/owned ]] && awk -v k="$1" -v n="$2" -v b="$BOOT_ID" '$1 == k && $2 == n && $4 == b {id = $3} END {print id}' "$STATE/owned"
  return 0
}
forget() {
  [[ -f $STATE/owned ]] || return 0
  awk -v k="$1" -v n="$2" '!($1 == k && $2 == n)' "$STATE/owned" >"$STATE/owned.new" && mv "$STATE/owned.new" "$STATE/owned"
}

# netns_id NAME: the inode of network namespace NAME (its identity while it exists).
netns_id() { stat -L -c %i "/run/netns/$1" 2>/dev/null; }
# link_id NAME: the interface index of link NAME.
link_id() { cat "/sys/class/net/$1/ifindex" 2>/dev/null; }

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

# kube_router NODE: sets KUBE_ROUTER to the command of kube-router's
# NetworkPolicy controller alone, for the node whose network namespace it
# runs in (each node's iptables rules and ipsets are its own). Its service
# proxy, router and load balancer stay off: kube-proxy and the bridge plugin
# do those jobs here. NODE_NAME, not only --hostname-override: kube-router
# looks the machine's hostname up first (when that was a node, every node
# enforced its pods instead of their own).
kube_router() {
  KUBE_ROUTER=(env NODE_NAME="$1" "$BIN/kube-router" --kubeconfig "$KUBECONFIG_ADMIN" --hostname-override "$1"
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false
    --service-cluster-ip-range "$SERVICE_CIDR")
}

# The configuration files node.sh writes for each node, with its own paths
# and names.

# cni_config FILE BRIDGE SUBNET IPAM_DIR: a bridge network with hairpin (a
# pod reaches its own Service), host-local addresses and no masquerade (pod
# traffic crosses nodes unNATed).
cni_config() {
  cat >"$1" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "peering",
  "plugins": [
    {"type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$4", "ranges": [[{"subnet": "$3"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
}

# containerd_config FILE DIR SOCKET CNI_DIR: containerd 2 with its root,
# state, runc root and pod network namespaces below DIR.
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
  # pods' network namespaces below the state folder, not in /run/netns
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$4"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    SystemdCgroup = false
    Root = "$2/runc"
[plugins."io.containerd.nri.v1.nri"]
  disable = true # its socket is one path for the whole machine
TOML
}

# kubelet_config FILE NODE DIR SOCKET ADDRESS: cgroup v1 with cgroupfs below
# the node's own cgroup, webhook authn/authz, the cluster DNS.
kubelet_config() {
  cat >"$1" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP/$2
containerRuntimeEndpoint: unix://$4
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/nodes/$2/kubelet.crt
tlsPrivateKeyFile: $PKI/nodes/$2/kubelet.key
address: $5
healthzBindAddress: 127.0.0.1
podLogsDir: $3/pod-logs
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
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
