# tandem: `make test` runs every test the project has. `make run` starts the server.
GO ?= go
NODE ?= node

.PHONY: test test-go test-js test-e2e vet fmt-check run bench fuzz crash-long cluster-kill-long crosslang-long

test: fmt-check vet test-go test-js test-e2e

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './client-js/node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 30m ./...

test-js:
	@if [ -f client-js/package.json ]; then cd client-js && npm run typecheck && npm test; else echo "client-js: no tests yet"; fi

test-e2e:
	@if [ -f client-js/package.json ] && grep -q '"test:e2e"' client-js/package.json; then cd client-js && npm run test:e2e; else echo "client-js: no browser tests yet"; fi

run:
	$(GO) run ./cmd/tandem

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./crdt/

# Short fuzzing pass over every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for pkg in ./crdt ./protocol ./storage; do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The randomized crash test with many seeds (CRASH_SEEDS of them; the normal run tries 3) and the
# kill -9 crash test at full length. A failure prints its seed and the command that repeats it.
CRASH_SEEDS ?= 50
crash-long:
	TANDEM_CRASH_SEEDS=$(CRASH_SEEDS) $(GO) test -race -count=1 -timeout 120m -run 'TestCrashRandom|TestCrashKill9|TestCrashEdge' ./server/

# The cluster's kill -9 test at full length (`make test` runs 3 cycles): three NATS servers and
# three tandem nodes as processes, one of them killed with SIGKILL per cycle (docs/cluster.md §7),
# and the check that the test catches a node that acknowledges before JetStream stores the edit.
CLUSTER_KILL_CYCLES ?= 20
cluster-kill-long:
	TANDEM_CLUSTER_KILL_CYCLES=$(CLUSTER_KILL_CYCLES) $(GO) test -race -count=1 -timeout 60m -v -run '^(TestClusterKill9|TestClusterKillHasTeeth)$$' ./server/

# Go <-> JavaScript convergence at length: RICH_SEEDS random rich-text scenarios (text, marks,
# embeds, attributes; `make test` runs 1-20) that the JavaScript twin must print byte for byte as Go.
RICH_SEEDS ?= 1-1000
crosslang-long:
	cd client-js && TANDEM_RICH_SEEDS=$(RICH_SEEDS) $(NODE) --test --test-name-pattern 'rich-text scenarios' test/crosslang.test.js
