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
test-bins: ## Build kube-apiserver and etcd for envtest (cold: ~12 min; then cached).
	hack/build-bins.sh kube-apiserver etcd

.PHONY: fmt
fmt: ## gofmt the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet the code.
	go vet ./...

.PHONY: test
test: test-bins vet ## Run every unit, integration and envtest test.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go test -count=1 ./...

.PHONY: fuzz
fuzz: ## Fuzz the peers document decoder and the PEERS parser (FUZZTIME each, default 30s).
	go test -run '^$$' -fuzz FuzzDecode -fuzztime $(or $(FUZZTIME),30s) ./operator/api/peers
	go test -run '^$$' -fuzz FuzzParsePeers -fuzztime $(or $(FUZZTIME),30s) ./server/internal/config

##@ Benchmarks (print figures; no pass/fail)
.PHONY: bench
bench: ## go test -bench for the /ping handler.
	go test -run '^$$' -bench . -benchmem ./server/...

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
