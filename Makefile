# kubectl node-shell — build, demo, test.
#   make demo    build the plugin, start a local real cluster, open a shell on a node
#   make test    every test: unit tests, then the e2e suite on a real local cluster
#   make bench   measure node-shell against the alternatives on a local real cluster (docs/benchmarks.md)
#   make release-snapshot   every platform's archive with goreleaser, checked by krew (docs/release.md)
SHELL := /bin/bash
GO ?= go
NODES ?= 1
CLUSTER_DIR ?= .cluster
BIN ?= bin
PLUGIN := $(BIN)/kubectl-node_shell
LOCALCLUSTER := bin/localcluster
export GOTOOLCHAIN := local

.PHONY: build localcluster cluster-up cluster-down demo test test-versions unit e2e bench bench-agent vet clean release-snapshot

# Stamped into pkg/version as release builds are (.goreleaser.yaml); untagged: "dev".
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
VERSION_PKG := github.com/kubectl-node-shell/kubectl-node-shell/pkg/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Commit=$(COMMIT) -X $(VERSION_PKG).Date=$(DATE)

# The plugin and kubectl's completion helper for it: with $(BIN) on PATH, kubectl runs the
# plugin as `kubectl node-shell` and completes its arguments through the helper.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(PLUGIN) ./cmd/kubectl-node_shell
	install -m 0755 kubectl_complete-node_shell $(BIN)/kubectl_complete-node_shell

localcluster:
	$(GO) build -o $(LOCALCLUSTER) ./integration/cmd/localcluster

# Starts a real cluster (NODES nodes) in the background; kubeconfig at $(CLUSTER_DIR)/kubeconfig.
cluster-up: localcluster
	$(LOCALCLUSTER) up --nodes $(NODES) --dir $(CLUSTER_DIR)

cluster-down: localcluster
	$(LOCALCLUSTER) down --dir $(CLUSTER_DIR)

# One command from a fresh clone to a root shell on a node of a local real cluster.
demo: build cluster-up
	$(PLUGIN) --kubeconfig $(CLUSTER_DIR)/kubeconfig 127.0.0.1

unit:
	$(GO) test -count=1 ./cmd/... ./pkg/... ./bench/...

# The e2e packages share the machine's one local cluster, so they run one at a time.
e2e:
	$(GO) test -count=1 -p 1 -timeout 60m ./integration/...

# Starts and stops its own 1-node cluster; needs the caches `make test` warms. ~20 min (the
# 100 streamed transfers under CPU load ~7 of them).
# BENCH_ONLY=cp,port-forward,stress (or streams) runs only those cases, into the saved results.
BENCH_ROUNDS ?= 7
BENCH_ONLY ?=
bench: build
	$(GO) build -o bin/bench-floor ./bench/floor
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench -plugin $(PLUGIN) -floor bin/bench-floor -rounds $(BENCH_ROUNDS) $(if $(BENCH_ONLY),-only $(BENCH_ONLY)) \
		-markdown docs/benchmarks.md -json bench/results.json

# The agent case on a 3-node cluster of its own (~1 min): time to first output on the agent,
# in a pod and through kubectl exec into the agent (the floor), and a fleet on agents and in
# pods, printed (docs/agent.md keeps the numbers).
bench-agent: build
	$(GO) build -o bin/bench ./bench/cmd/bench
	bin/bench -only-agent -plugin $(PLUGIN) -session-rounds $(BENCH_ROUNDS) -fleet-rounds 3

vet:
	$(GO) vet ./...

# goreleaser --snapshot into dist/ (goreleaser is built and cached by hack/tools.sh: ~8 min
# the first time), then dist/nodeshell.yaml filled from checksums.txt, then krew's validator
# installs every platform from it.
release-snapshot:
	GORELEASER=$$(hack/tools.sh goreleaser) && $$GORELEASER release --snapshot --clean
	$(GO) run ./integration/cmd/krew-manifest --dist dist
	KNS_RELEASE_DIST=$(CURDIR)/dist $(GO) test -count=1 -run TestReleaseSnapshot ./integration/release/

test: vet unit e2e

# The e2e suite on the oldest supported Kubernetes that builds here and on the default
# (newest); each is built once into the cache (~5 min cold). Not part of `make test`.
test-versions: localcluster
	@set -e; for v in $$($(LOCALCLUSTER) versions); do \
		echo "=== e2e suite on Kubernetes $$v"; \
		KNS_KUBERNETES_VERSION=$$v $(GO) test -count=1 -p 1 -timeout 60m ./integration/e2e/; \
		echo "=== e2e suite on Kubernetes $$v: passed"; \
	done

clean:
	rm -rf bin
