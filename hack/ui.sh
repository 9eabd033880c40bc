#!/usr/bin/env bash
# Opens the operator's web view: forwards localhost:${UI_PORT:-8084} to the
# loopback-only port 8084 of the operator replica that leads (the one that
# collects link health; its pod is named in the leader-election Lease) and
# prints the URL. After a failover, run it again. With KUBECONFIG unset and
# the local cluster up, it uses the local cluster; otherwise the kubectl on
# PATH and its current context.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"
port=${UI_PORT:-8084}
[[ $port =~ ^[0-9]+$ ]] || die "UI_PORT must be a port number, not '$port'"
if [[ -z ${KUBECONFIG-} && -f $KUBECONFIG_ADMIN && -x $BIN/kubectl ]]; then
  run_kubectl() { kubectl "$@"; }
else
  run_kubectl() { command kubectl "$@"; }
fi
holder=$(run_kubectl -n peering-system get lease peering-operator.simulated-peering.io \
  -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true)
leader=${holder%%_*}
target=svc/peering-operator # no lease (leader election off): any replica collects
if [[ $leader =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]]; then
  target=pod/$leader
fi
log "mesh health at http://localhost:$port/ from $target (Ctrl-C stops the port-forward)"
run_kubectl -n peering-system port-forward "$target" "$port:8084"
