#!/usr/bin/env bash
# Opens the monitoring harness's Prometheus (make demo MONITORING=1, make
# e2e): forwards localhost:${PROMETHEUS_PORT:-9090} to it and prints the URL.
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"
port=${PROMETHEUS_PORT:-9090}
[[ $port =~ ^[0-9]+$ ]] || die "PROMETHEUS_PORT must be a port number, not '$port'"
kubectl -n monitoring get prometheus/prometheus >/dev/null 2>&1 ||
  die "no Prometheus on the local cluster: start it with make demo MONITORING=1"
log "Prometheus at http://localhost:$port/ (alerts: /alerts, targets: /targets; Ctrl-C stops the port-forward)"
kubectl -n monitoring port-forward svc/prometheus-operated "$port:9090"
