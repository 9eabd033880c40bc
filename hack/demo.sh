#!/usr/bin/env bash
# make demo, after make cluster-up has built what is missing and started (or
# reused) the local cluster: deploy the operator and the dev overlay exactly
# as a user would, wait for the PeerGroup to be Ready, then follow the pods'
# pongs. FOLLOW=0 prints a sample instead of following (for scripts).
# GITOPS=1 lets Flux install them from a Git server on this machine instead
# (hack/flux/up.sh). MONITORING=1 adds a real Prometheus, run by the real
# Prometheus Operator from config/monitoring (hack/monitoring/up.sh).
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"
start=$SECONDS
if [[ ${GITOPS:-0} == 1 ]]; then
  "$ROOT/hack/flux/up.sh" # Flux installs the operator and overlays/dev from Git
  wait_for "PeerGroup peering-dev/mesh Ready" 300 kubectl -n peering-dev wait peergroup/mesh --for=condition=Ready --timeout=5s
else
  "$ROOT/hack/deploy.sh" dev
fi
log "mesh Ready $((SECONDS - start))s after the cluster was up"
open="web view: make ui"
if [[ ${MONITORING:-0} == 1 ]]; then
  "$ROOT/hack/monitoring/up.sh"
  open+="; Prometheus: make prometheus"
fi
kubectl get peergroups -A
echo
if [[ ${FOLLOW:-1} == 0 ]]; then
  sleep "${SAMPLE_SECONDS:-15}"
  kubectl -n peering-dev logs -l app.kubernetes.io/instance=mesh --prefix --tail=-1 | grep 'pong from' | tail -n 12
  exit 0
fi
cat <<MSG
Following the servers' logs (Ctrl-C stops following; the cluster keeps running).
  kubectl:  export KUBECONFIG=$KUBECONFIG_ADMIN; $BIN/kubectl -n peering-dev get pg
  $open
  scale:    $BIN/kubectl --kubeconfig $KUBECONFIG_ADMIN -n peering-dev scale pg mesh --replicas=5
  stop:     make cluster-down
MSG
kubectl -n peering-dev logs -f -l app.kubernetes.io/instance=mesh --prefix --max-log-requests 20 --tail=5
