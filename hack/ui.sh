#!/usr/bin/env bash
# Opens the operator's web view: forwards localhost:${UI_PORT:-8084} to the
# operator's loopback-only port 8084 and prints the URL. With KUBECONFIG
# unset and the local cluster up, it uses the local cluster; otherwise the
# kubectl on PATH and its current context.
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
log "mesh health at http://localhost:$port/ (Ctrl-C stops the port-forward)"
run_kubectl -n peering-system port-forward svc/peering-operator "$port:8084"
