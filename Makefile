# Simulated Peering — run `make` for the list of targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export CGO_ENABLED ?= 0
GO_BUILD := go build -trimpath -ldflags "-s -w"
# envtest's kube-apiserver and etcd: built from the Go module proxy by
# hack/build-bins.sh, cached by version outside the checkout, linked in bin/.
export KUBEBUILDER_ASSETS ?= $(CURDIR)/bin

##@ General
.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n%s\n", substr($$0, 5)}' $(MAKEFILE_LIST)

##@ Development
.PHONY: build
build: ## Build bin/server and bin/operator.
	$(GO_BUILD) -o bin/server ./server
	$(GO_BUILD) -o bin/operator ./operator

.PHONY: test-bins
test-bins: ## Build kube-apiserver and etcd for envtest, kube-score, promtool and the Prometheus Operator's CRDs for the manifest tests (cold: ~12 min; then cached).
	hack/build-bins.sh kube-apiserver etcd kube-score promtool prometheus-operator-crds

.PHONY: fmt
fmt: ## gofmt the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet the code.
	go vet ./...

.PHONY: browser
browser: ## Install Debian's headless Chromium for the browser tests.
	hack/apt-install.sh chromium-headless-shell

.PHONY: test
test: test-bins browser lint cluster-deps ## Run every unit, integration, envtest, manifest, script and README test, with the race detector.
	CGO_ENABLED=1 go test -race -count=1 ./...

.PHONY: fuzz
fuzz: ## Fuzz the peers document and /links decoders (the wire contract's and the operator's round reader) and the PEERS parser (FUZZTIME each, default 30s).
	go test -run '^$$' -fuzz 'FuzzDecode$$' -fuzztime $(or $(FUZZTIME),30s) ./operator/api/peers
	go test -run '^$$' -fuzz FuzzDecodeLinks -fuzztime $(or $(FUZZTIME),30s) ./operator/api/peers
	go test -run '^$$' -fuzz FuzzDecodeReport -fuzztime $(or $(FUZZTIME),30s) ./operator/internal/health
	go test -run '^$$' -fuzz FuzzParsePeers -fuzztime $(or $(FUZZTIME),30s) ./server/internal/config

SHELL_SCRIPTS = $(shell git ls-files --cached --others --exclude-standard '*.sh' .ci/run)

.PHONY: lint
lint: vet ## Static checks: go vet, gofmt, and shellcheck on every shell script (installs Debian's shellcheck if missing).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@hack/apt-install.sh shellcheck
	shellcheck $(SHELL_SCRIPTS)

##@ Deployment
ENV ?= dev
KUSTOMIZE := go tool kustomize
KUBECTL ?= kubectl
IMAGE_TAG ?= dev

.PHONY: render
render: ## Print an overlay's manifests (ENV=dev|staging|prod).
	$(KUSTOMIZE) build overlays/$(ENV)

.PHONY: deploy
deploy: ## Install the operator and the ENV overlay into the current kubectl context.
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -
	$(KUBECTL) -n peering-system rollout status deployment/peering-operator --timeout=5m
	$(KUSTOMIZE) build overlays/$(ENV) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the ENV overlay, then the operator.
	$(KUSTOMIZE) build overlays/$(ENV) | $(KUBECTL) delete --ignore-not-found -f -
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: docker-build
docker-build: ## Build both images with Docker (machines with a Docker engine).
	docker build -f Dockerfile.server -t simulated-peering/server:$(IMAGE_TAG) .
	docker build -f Dockerfile.operator -t simulated-peering/operator:$(IMAGE_TAG) .

##@ Local cluster (Linux, root; see README)
CLUSTER_BINS := etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl \
	containerd containerd-shim-runc-v2 ctr coredns kube-router \
	prometheus-operator prometheus-config-reloader prometheus-root prometheus-operator-crds

# NODES: how many nodes the local cluster has (1 to 5), each in a network
# namespace of its own. Three cost ~8 s and ~0.4 GiB more than one
# (docs/architecture.md, "Nodes") and let the mesh cross nodes.
NODES ?= 3
export NODES

.PHONY: ui
ui: ## Open the operator's web view: port-forward localhost:8084 (UI_PORT) to it and print the URL.
	hack/ui.sh

.PHONY: prometheus
prometheus: ## Open the local cluster's Prometheus (make demo MONITORING=1): port-forward localhost:9090 (PROMETHEUS_PORT) and print the URL.
	hack/prometheus.sh

.PHONY: demo
demo: cluster-up ## Start a local cluster of NODES nodes (default 3), deploy the operator and overlays/dev, follow the pongs (GITOPS=1: via Flux; MONITORING=1: with Prometheus and config/monitoring).
	hack/demo.sh

.PHONY: cluster-deps
cluster-deps: ## Install the Debian packages the local cluster (and the tests of its scripts) need.
	hack/cluster/install-deps.sh

.PHONY: cluster-up
cluster-up: cluster-deps ## Start (or reuse) the local cluster of NODES nodes (default 3); KUBECONFIG is printed.
	@echo ">> building what is missing (first run: ~27 min on 2 cores; cached in ~/.cache/simulated-peering/bin)"
	hack/build-bins.sh $(CLUSTER_BINS)
	hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the cluster and remove exactly what it made on this machine.
	hack/cluster/down.sh

.PHONY: e2e
e2e: cluster-up browser ## End-to-end tests on the local cluster of NODES nodes (build tag e2e), then the Flux GitOps test.
	hack/build-bins.sh kube-score
	go test -tags e2e -count=1 -timeout 40m -p 1 -v ./test/e2e/...

.PHONY: e2e-scale
e2e-scale: ## A real mesh at scale (not in CI; the full size saturates 2 cores, see docs/scale.md): NODES=5, a group of 300 pods (fan-out 10) and 50 groups of 4; prints the figures of docs/scale.md.
	$(MAKE) cluster-up browser NODES=5
	NODES=5 go test -tags e2e,scale -count=1 -timeout 90m -p 1 -v -run '^TestAtScale$$' ./test/e2e/

##@ Benchmarks (print figures; no pass/fail)
.PHONY: bench
bench: ## go test -bench for the /ping handler.
	go test -run '^$$' -bench . -benchmem ./server/...

.PHONY: bench-operator
bench-operator: test-bins ## Peers API req/s and p99 with 1,000 clients; wake-up latency; memory with 1,000 groups.
	go run ./operator/cmd/bench-operator

.PHONY: bench-server
bench-server: build ## Server vs bare net/http /ping req/s; RSS and CPU with 1,000 peers.
	go run ./hack/bench-server -server bin/server

##@ Code generation
.PHONY: generate
generate: ## Generate deepcopy code (controller-gen).
	go tool controller-gen object:headerFile=hack/boilerplate.go.txt paths=./operator/...

.PHONY: manifests
manifests: ## Generate the CRD and RBAC under config/ (controller-gen).
	go tool controller-gen crd:allowDangerousTypes=false rbac:roleName=peering-operator paths=./operator/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
