#!/usr/bin/env bash
# GitOps mode for the local cluster: serves a Git repository of this
# project's config/, overlays/ and clusters/ over HTTP, runs Flux's
# source-controller and kustomize-controller (as processes with the admin
# kubeconfig: no images to build, and they reach the git server and each
# other's artifact storage on loopback), and bootstraps clusters/dev with its
# GitRepository pointed at that server. Flux then installs the operator and
# the dev overlay.
set -euo pipefail
# shellcheck source=../cluster/lib.sh
source "$(dirname "$0")/../cluster/lib.sh"
GIT_ADDR=127.0.0.1:9780
GIT_URL=http://$GIT_ADDR/simulated-peering.git
REPO=$STATE/git/simulated-peering.git
WORK=$STATE/git/work

"$ROOT/hack/build-bins.sh" source-controller kustomize-controller flux
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/gitserver" ./hack/gitserver)

log "git repository $GIT_URL (config/, overlays/, clusters/ of this checkout)"
rm -rf "$STATE/git"
mkdir -p "$STATE/git"
git init -q --bare -b main "$REPO"
git init -q -b main "$WORK"
cp -r "$ROOT/config" "$ROOT/overlays" "$ROOT/clusters" "$WORK/"
git -C "$WORK" add -A
git -C "$WORK" -c user.name=demo -c user.email=demo@localhost commit -qm "simulated-peering manifests"
git -C "$WORK" remote add origin "$GIT_URL"
launch gitserver "$BIN/gitserver" -root "$STATE/git" -listen "$GIT_ADDR"
wait_for "git server" 30 git ls-remote "$GIT_URL"
git -C "$WORK" push -q origin main

log "Flux CRDs and controllers"
crds() { # controller: its module's CRD folder, downloaded first if need be
  local dir
  dir=$(cd "$ROOT/hack/flux/$1" && module_dir "github.com/fluxcd/$1@$FLUX_CONTROLLERS_VERSION")
  [[ -d $dir/config/crd/bases ]] || die "$dir has no config/crd/bases"
  echo "$dir/config/crd/bases"
}
kubectl create namespace flux-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
for c in source-controller kustomize-controller; do
  bases=$(crds "$c")
  kubectl apply --server-side -f "$bases" >/dev/null
  # A controller started before its CRDs are served exits at once
  # ("no matches for kind"): wait until the API server serves them.
  kubectl wait --for=condition=Established --timeout=60s -f "$bases" >/dev/null
done
mkdir -p "$STATE/flux/storage"
export KUBECONFIG=$KUBECONFIG_ADMIN RUNTIME_NAMESPACE=flux-system
launch source-controller "$BIN/source-controller" --enable-leader-election=false --watch-all-namespaces \
  --storage-path "$STATE/flux/storage" --storage-addr 127.0.0.1:9790 --storage-adv-addr 127.0.0.1:9790 \
  --metrics-addr 127.0.0.1:9791 --health-addr 127.0.0.1:9792
launch kustomize-controller "$BIN/kustomize-controller" --enable-leader-election=false --watch-all-namespaces \
  --metrics-addr 127.0.0.1:9793 --health-addr 127.0.0.1:9794
wait_for "source-controller" 60 curl -sf http://127.0.0.1:9792/readyz
wait_for "kustomize-controller" 60 curl -sf http://127.0.0.1:9794/readyz

log "bootstrapping clusters/dev from $GIT_URL"
(cd "$ROOT" && go tool kustomize build clusters/dev) |
  sed "s#url: https://github.com/simulated-peering/simulated-peering#url: $GIT_URL#" | kubectl apply --server-side -f - >/dev/null
wait_for "Flux Kustomization peering-operator Ready" 300 kubectl -n flux-system wait kustomization/peering-operator --for=condition=Ready --timeout=5s
wait_for "Flux Kustomization peergroups Ready" 300 kubectl -n flux-system wait kustomization/peergroups --for=condition=Ready --timeout=5s
cat <<MSG
GitOps mode: Flux syncs $GIT_URL (work tree: $WORK).
Change the mesh with a push, e.g.:
  cd $WORK && sed -i 's/replicas: 3/replicas: 5/' overlays/dev/kustomization.yaml
  git commit -qam "dev: 5 servers" && git push -q origin main
  $BIN/flux --kubeconfig $KUBECONFIG_ADMIN reconcile kustomization peergroups --with-source
MSG
