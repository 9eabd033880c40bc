#!/usr/bin/env bash
# Deploys the operator (config/default) and one overlay to the local cluster
# with the same kustomize output a user applies, and waits until the
# PeerGroup is Ready.   hack/deploy.sh dev
set -euo pipefail
# shellcheck source=cluster/lib.sh
source "$(dirname "$0")/cluster/lib.sh"
env=${1:-dev}
cd "$ROOT"
log "deploying the operator (config/default)"
go tool kustomize build config/default | kubectl apply --server-side --force-conflicts -f - >/dev/null
kubectl -n peering-system rollout restart deployment/peering-operator >/dev/null # picks up a re-imported :dev image
wait_for "the operator rolled out" 180 kubectl -n peering-system rollout status deployment/peering-operator --timeout=5s
log "deploying overlays/$env"
go tool kustomize build "overlays/$env" | kubectl apply --server-side --force-conflicts -f - >/dev/null
wait_for "PeerGroup peering-$env/mesh Ready" 300 kubectl -n "peering-$env" wait peergroup/mesh --for=condition=Ready --timeout=5s
