# Wisp build. Needs only Go (see go.mod for the version).
#
#   make build   static binary in bin/wisp
#   make run     build, then run on 127.0.0.1:4222 (monitoring :8222, streams in ./data)
#   make run-cluster  build, then run three clustered nodes on 127.0.0.1
#                (clients 4222-4224, routes 6222-6224, monitoring 8222-8224,
#                streams in ./data/n1..n3), logs prefixed by node
#   make test    gofmt check, go vet, all tests with -race
#   make fuzz    each fuzz target for FUZZTIME (default 30s)
#   make chaos   the fault-injection suites, consensus then replicated streams,
#                each for CHAOS_TIME (default 5m) from CHAOS_SEED (random
#                without it); prints failing seeds
#   make bench   benchmarks
#   make clean

# VERSION is Wisp's own (the nearest tag, or 0.1.0-dev without one); COMMIT
# the commit built. Neither is what INFO's "version" says to clients: that
# is server.NATSVersion (docs/ARCHITECTURE.md, "Versions").
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo 0.1.0-dev)
COMMIT   ?= $(shell c=$$(git rev-parse --short HEAD 2>/dev/null) && { git diff --quiet HEAD -- || c=$$c-dirty; echo $$c; })
FUZZTIME ?= 30s
CHAOS_TIME ?= 5m
CHAOS_SEED ?=
GO       ?= go

.PHONY: build run run-cluster test fuzz chaos bench clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/wisp ./cmd/wisp

run: build
	bin/wisp -a 127.0.0.1 -p 4222 -m 8222 -js -sd ./data

# Three nodes with nats-server's cluster flags, each seeded with all three
# routes (gossip would do with one). Ctrl-C stops them all.
run-cluster: build
	@mkdir -p data/n1 data/n2 data/n3
	@trap 'kill 0' INT TERM; \
	for i in 1 2 3; do \
		bin/wisp -a 127.0.0.1 -p 422$$((i+1)) -n n$$i -m 822$$((i+1)) -js -sd data/n$$i \
			--cluster_name wisp-local --cluster nats://127.0.0.1:622$$((i+1)) \
			--routes nats://127.0.0.1:6222,nats://127.0.0.1:6223,nats://127.0.0.1:6224 2>&1 \
			| sed -u "s/^/[n$$i] /" & \
	done; \
	wait

test:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	# The race detector makes sync.Pool drop items on purpose, so the
	# zero-allocation checks of the hot path run without it as well.
	$(GO) test -count=1 -run 'Alloc' ./protocol ./sublist ./server ./mqtt
	$(GO) test -race -count=1 -timeout 14m ./...

# go test -fuzz takes one target per run, so run each Fuzz function found in
# the tests in turn.
fuzz:
	@set -e; \
	for file in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		dir=$$(dirname "$$file"); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			echo "== $$dir $$name ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "./$$dir"; \
		done; \
	done

# Seeded fault-injection runs, one after another until CHAOS_TIME is spent:
# first of consensus/ (3 and 5 hosts, alternating), then of replicated
# streams on real servers (cmd/wisp, 3 or 5 servers as the seed says).
# Each run's seed is logged; a failing run stops the target and prints how
# to replay it (make chaos CHAOS_SEED=N). The tests bound themselves by
# CHAOS_TIME, hence no go test timeout.
chaos:
	CHAOS_TIME=$(CHAOS_TIME) CHAOS_SEED=$(CHAOS_SEED) $(GO) test -race -count=1 -timeout 0 -run '^TestChaosLong$$' -v ./consensus
	CHAOS_TIME=$(CHAOS_TIME) CHAOS_SEED=$(CHAOS_SEED) $(GO) test -race -count=1 -timeout 0 -run '^TestStreamChaosLong$$' -v ./cmd/wisp

# Micro-benchmarks (raw output for benchstat in bench/results/micro.txt),
# then the standard wisp bench scenarios on the embedded server; see
# docs/bench.md. A few minutes in all.
bench: build
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s -count 3 ./protocol ./sublist ./server > bench/results/micro.txt; \
	status=$$?; cat bench/results/micro.txt; exit $$status
	@bin/wisp bench --quiet --json bench/results/latest.json --html bench/results/latest.html > bench/results/latest.txt; \
	status=$$?; cat bench/results/latest.txt; \
	{ echo "# Latest \`make bench\`"; echo; \
	  echo "Written by \`make bench\` on $$(date -u +%Y-%m-%d) ($$(nproc) CPUs, $$($(GO) env GOVERSION)); the curated figures, with their context, are in [benchmarks.md](benchmarks.md)."; echo; \
	  echo "## wisp bench, embedded server"; echo; echo '```'; cat bench/results/latest.txt; echo '```'; echo; \
	  echo "## Go micro-benchmarks"; echo; echo '```'; grep -E '^(Benchmark|pkg:)' bench/results/micro.txt; echo '```'; \
	} > docs/benchmarks-latest.md; \
	echo "wrote docs/benchmarks-latest.md and bench/results/"; exit $$status

clean:
	rm -rf bin
