# apigw developer targets. `make test` is what CI runs (.ci/run).
GO          ?= go
GOBIN       := $(shell $(GO) env GOPATH)/bin
TOOLS       := $(CURDIR)/.tools
PKGS        := ./...
FUZZTIME    ?= 30s
BENCHTIME   ?= 1s
# bench-load: see docs/performance.md
CONCURRENCY ?= 50
DURATION    ?= 10s
MIX         ?= mix
SERVERS     ?= noop,apigw
ROUNDS      ?= 1
RATE        ?= 0
# bench-envoy: see docs/performance.md ("Through Envoy")
CONNECTIONS ?= 50
ENVOY_ROUNDS ?= 2
ENVOYBENCH_FLAGS ?=
# bench-publish: see docs/performance.md ("Publishing to replicas")
PUBLISH_ROUNDS ?= 30
# Stamped into bin/apigw (apigw version); go's own VCS stamping is off when
# GOFLAGS has -buildvcs=false or the tree is not a Git checkout.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS     := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# go-control-plane's vtprotobuf marshallers (internal/grpccodec) are only
# compiled with this tag; without it apigw encodes with grpc-go's codec.
TAGS        ?= vtprotobuf

.PHONY: all build test test-short lint fmt vet tidy generate bench bench-load bench-envoy bench-reload bench-publish soak fuzz run tools clean envoy

all: build test

## build: compile the apigw binary into bin/
build:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o bin/apigw ./cmd/apigw

## run: serve the quickstart configuration
run:
	$(GO) run -tags "$(TAGS)" ./cmd/apigw serve --config examples/quickstart/gateway.yaml

## envoy: install the Envoy of envoy/VERSION into .tools/envoy (the tests and the quickstart use it; a second run does nothing)
envoy:
	@bash scripts/install-envoy.sh

## test: the full test suite with the race detector (what CI runs)
test:
	$(GO) test -tags "$(TAGS)" -race -count=1 -timeout 12m $(PKGS)

## test-short: a quick run without the race detector
test-short:
	$(GO) test -tags "$(TAGS)" -short -count=1 $(PKGS)

## lint: gofmt, go vet and golangci-lint (installed into .tools on first use)
lint: fmt vet tidy
	@test -x $(TOOLS)/golangci-lint || GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@latest
	$(TOOLS)/golangci-lint run --build-tags "$(TAGS)" $(PKGS)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags "$(TAGS)" $(PKGS)

## tidy: fail when go.mod/go.sum are not what `go mod tidy` would write
tidy:
	$(GO) mod tidy -diff

## generate: regenerate Go code from proto/ (buf and plugins installed into .tools)
generate:
	@test -x $(TOOLS)/buf || GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@latest
	@test -x $(TOOLS)/protoc-gen-go || GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@latest
	PATH="$(TOOLS):$$PATH" $(TOOLS)/buf lint
	PATH="$(TOOLS):$$PATH" $(TOOLS)/buf generate

## bench: Go micro-benchmarks of the hot paths
bench:
	$(GO) test -tags "$(TAGS)" -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./authz/... ./xds/... ./ratelimit/...

## fuzz: run every fuzz target for FUZZTIME each (new inputs are minimised for at most 5 s, not the default 60 s, so large inputs do not stall a run)
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

clean:
	rm -rf bin $(TOOLS)

## bench-load: load benchmark of Check over gRPC against the no-op limit (docs/performance.md); MIX=app1k|app64k|none|none64k, SERVERS=noop,noop-apigw,apigw,apigw-base (bin/apigw-base: e.g. the build before a change), ROUNDS=2 (A B B A), RATE=5000 (requests/s; 0: as fast as possible)
bench-load:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o bin/apigw ./cmd/apigw
	$(GO) build -tags "$(TAGS)" -o bin/noopauthz ./test/bench/noopauthz
	$(GO) run ./test/bench/loadbench -concurrency $(CONCURRENCY) -duration $(DURATION) \
	  -mix $(MIX) -servers $(SERVERS) -rounds $(ROUNDS) -rate $(RATE)

## bench-envoy: HTTP load through a real Envoy (wrk, app-signed 1 KiB POSTs): Envoy alone, Envoy + no-op ext_authz, Envoy + apigw; DURATION, CONNECTIONS, ENVOY_ROUNDS=2 (A B C C B A), ENVOYBENCH_FLAGS="-throttle", "-setups envoy,envoy-noop,apigw-xds-noop,envoy-apigw" or "-instructions 400 -rounds 1" (Envoy instructions per request, valgrind)
bench-envoy:
	@command -v wrk >/dev/null || { echo "bench-envoy needs wrk: apt-get install -y wrk (Debian/Ubuntu)"; exit 1; }
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o bin/apigw ./cmd/apigw
	$(GO) build -tags "$(TAGS)" -o bin/noopauthz ./test/bench/noopauthz
	$(GO) build -o bin/echo ./examples/echo
	$(GO) run ./test/bench/envoybench -duration $(DURATION) -connections $(CONNECTIONS) -rounds $(ENVOY_ROUNDS) $(ENVOYBENCH_FLAGS)

## bench-publish: one publish of BETA in a 10,000-API configuration until two replicas on a loopback etcd decide by it and a delta xDS client has it (median and p90 of PUBLISH_ROUNDS; docs/performance.md)
bench-publish:
	APIGW_REQUIRE_ETCD=1 $(GO) test -tags "$(TAGS)" -run '^$$' -bench PublishToReplicas -benchtime $(PUBLISH_ROUNDS)x -timeout 20m ./cmd/apigw

## soak: 60 s of load while the config changes every 200 ms and Redis restarts (SOAK_DURATION to change)
soak:
	APIGW_SOAK=1 APIGW_SOAK_DURATION=$(or $(SOAK_DURATION),60s) $(GO) test -count=1 -v -timeout 10m -run TestSoak ./test/soak/

## quickstart: run the quickstart on loopback: echo backends, apigw and Envoy (installed with scripts/install-envoy.sh when none is found; scripts/quickstart.sh)
.PHONY: quickstart
quickstart:
	GO="$(GO)" bash scripts/quickstart.sh

## bench-reload: one-API changes of a realistic configuration through a running apigw: file to delta xDS client and to Check's decision (median, p99), RSS at ready and after the changes (docs/performance.md); APIS=10000 CHANGES=30; RELOADBENCH_FLAGS="-envoy auto" also times a real Envoy applying each change
APIS        ?= 10000
CHANGES     ?= 30
RELOADBENCH_FLAGS ?=
bench-reload:
	$(GO) build -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o bin/apigw ./cmd/apigw
	$(GO) run ./test/bench/reloadbench -apis $(APIS) -changes $(CHANGES) $(RELOADBENCH_FLAGS)
