#!/usr/bin/env bash
# Installs the monitoring harness on the local cluster: the Prometheus
# Operator's CRDs and the operator (hack/monitoring), then the project's own
# monitoring objects exactly as a user applies them (config/monitoring and
# its goldpinger alert), and waits until Prometheus is ready. Needs the
# project's operator deployed (hack/deploy.sh): config/monitoring binds its
# peering-metrics-reader role.
# make demo MONITORING=1 and the e2e tests run it; it is idempotent.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
cd "$ROOT"
crds=$BIN/prometheus-operator-crds
[[ -d $crds ]] || die "$crds is missing: make cluster-up builds it"
log "monitoring: the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION and Prometheus $PROMETHEUS_VERSION"
kubectl apply --server-side --force-conflicts -f "$crds/" >/dev/null # bin/ links into the cache
wait_for "the monitoring CRDs established" 60 kubectl wait --for=condition=Established \
  crd/prometheuses.monitoring.coreos.com crd/podmonitors.monitoring.coreos.com \
  crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com --timeout=5s
go tool kustomize build hack/monitoring | kubectl apply --server-side --force-conflicts -f - >/dev/null
wait_for "the Prometheus Operator rolled out" 180 kubectl -n monitoring rollout status deployment/prometheus-operator --timeout=5s
for objects in config/monitoring config/monitoring/goldpinger; do
  go tool kustomize build "$objects" | kubectl apply --server-side --force-conflicts -f - >/dev/null
done
wait_for "Prometheus ready" 300 kubectl -n monitoring wait prometheus/prometheus --for=condition=Available --timeout=5s
log "Prometheus's web UI: make prometheus"
