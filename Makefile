# OSA — the two commands: `make run` (the server on a private PostgreSQL under .osa/) and
# `make test` (the tests on a throw-away PostgreSQL). Both install PostgreSQL + pgvector first
# when they are missing. `make check` is what CI runs before the tests; `make bench` measures.

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
# Packages with concurrency run a second time under the race detector.
RACE_PKGS := ./server/... ./replicas/... ./events/... ./jobs/... ./indexstate/... ./catalog/... ./records/... ./backends/... ./sources/... ./search/... ./sdk/... ./migrations/... ./internal/pgtest/... ./internal/devpg/...

# Fuzz targets (package:Fuzz), each run for FUZZTIME by `make test`; their seed corpora are
# committed under the package's testdata/fuzz/, where `go test -fuzz` also writes any failing input.
FUZZ_TARGETS := ./records:FuzzParseSRN ./records:FuzzValidateMetadata ./cmd/osa:FuzzParseLine ./search/where:FuzzParse
# FUZZTIME is an execution count ("50000x"), not a duration: with a duration, the fuzzing
# coordinator's deadline races its busy workers on a loaded machine and the run fails with
# "context deadline exceeded" without any finding (golang/go#51484); a count has no deadline.
FUZZTIME     ?= 50000x

# Flags of `osa bench all` for make bench: by default those of the run committed in bench/results/
# (a pipeline of 30,000 records, long enough for its chart); e.g. BENCH_FLAGS='--records 10000' for a shorter run.
BENCH_FLAGS ?= --records 30000

.PHONY: run build test check generate fmt fuzz-smoke bench bench-smoke

## run: the whole server (API, workers, River UI) on :8080 with a private PostgreSQL under .osa/
run: build
	./bin/osa dev

## build: the osa binary in bin/
build:
	$(GO) build -o bin/osa ./cmd/osa

## test: every test against a throw-away PostgreSQL + pgvector cluster, then the race detector
test:
	$(GO) run ./internal/cmd/withpg -- sh -c '$(GO) test -count=1 ./... && $(GO) test -count=1 -race $(RACE_PKGS)'
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory bench-smoke

## fuzz-smoke: each fuzz target for FUZZTIME (go test -fuzz takes one target per run)
fuzz-smoke:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz-smoke: $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZTIME) $${t%%:*}; \
	done

## bench: the full benchmark, osa bench all (ingest: six scenarios beside the raw River, HNSW-insert and COPY
## ceilings measured in the same run, and freshness at a steady 100 records/s; then vector ingest against two provider
## shapes of hosted embedding APIs; then search on 100,000 records; then a
## rebuild of 100,000 records beside the bulk path; then an export of 200,000 records beside COPY; then an import of
## 20,000 records beside the bulk path; then the changefeed's latency at 100 records/s beside its cursor rule's own),
## on the private cluster of osa dev (dev.data_dir, dev.port; OSA_DEV__PORT=0 for any free port) or database.url. Writes
## bench/results/all-ingest.{md,json,svg}, all-provider.{md,json}, all-search.{md,json}, all-rebuild.{md,json}, all-export.{md,json},
## all-import.{md,json} and all-feed.{md,json}; about 22 minutes; run it on an idle machine.
bench: build
	./bin/osa bench all --out bench/results/all $(BENCH_FLAGS)

# The BEIR dataset of osa bench relevance --smoke in make bench-smoke. CI checks out shared/ as a sibling of this
# clone, hence ../shared/bench/scifact; elsewhere, e.g. RELEVANCE_DATASET=/path/to/scifact. Missing, bench-smoke fails.
RELEVANCE_DATASET ?= ../shared/bench/scifact

## bench-smoke: osa bench all --smoke, then osa bench relevance --smoke on RELEVANCE_DATASET and osa bench scale --smoke, on one throw-away cluster,
## then osa bench soak --smoke on a private cluster of its own (the soak restarts its database) (about 2½ minutes; make
## test runs it): checks that every part of the benchmarks runs, not their figures; their reports go to a temporary folder,
## kept only when one fails
bench-smoke: build
	@test -f "$(RELEVANCE_DATASET)/corpus.jsonl" || { echo "bench-smoke: no BEIR dataset at RELEVANCE_DATASET=$(RELEVANCE_DATASET)" \
		"(no corpus.jsonl; CI has shared/ beside the clone, elsewhere set RELEVANCE_DATASET)" >&2; exit 1; }
	$(GO) run ./internal/cmd/withpg -- sh -c 'out=$$(mktemp -d) && \
		if OSA_DATABASE__URL="$$OSA_TEST_DATABASE_URL" ./bin/osa bench all --smoke --out "$$out/all" >"$$out/stdout.md" && \
			OSA_DATABASE__URL="$$OSA_TEST_DATABASE_URL" ./bin/osa bench relevance --smoke --dataset "$(RELEVANCE_DATASET)" \
				--out "$$out/relevance" >"$$out/relevance-stdout.md" && \
			OSA_DATABASE__URL="$$OSA_TEST_DATABASE_URL" ./bin/osa bench scale --smoke --out "$$out/scale" >"$$out/scale-stdout.md" && \
			env -u OSA_DATABASE__URL OSA_DEV__PORT=0 OSA_DEV__DATA_DIR="$$out/soak-pg" ./bin/osa bench soak --smoke \
				--log-dir "$$out/soak-logs" --out "$$out/soak" >"$$out/soak-stdout.md"; \
		then rm -rf "$$out"; echo "bench-smoke: ok"; else echo "bench-smoke: failed; its reports are in $$out" >&2; exit 1; fi'

## check: formatting, vet, proto lint, generated code and go.mod up to date
check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(TOOL) buf lint
	$(TOOL) buf generate
	@if ! git diff --quiet -- api || [ -n "$$(git ls-files --others --exclude-standard -- api)" ]; then \
		echo "generated code is stale: run make generate and commit"; git status --short -- api; exit 1; fi

## generate: regenerate the Connect/protobuf code from api/**/*.proto
generate:
	$(TOOL) buf generate

## fmt: gofmt every Go file
fmt:
	gofmt -w $$(git ls-files '*.go')
