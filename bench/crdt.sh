#!/usr/bin/env bash
# One run that puts tandem's CRDT (Go core and JavaScript twin) beside the anchors on the same
# traces: Yjs, Loro, json-joy, Automerge and a plain-rope floor (../shared/anchors/crdt), plus the
# Go no-CRDT floor and whole-history merges beside Yjs (bench/crdt-merge.mjs). Results go to $OUT
# (default bench-results/crdt-<time>/).
#
#   bash bench/crdt.sh            # RUNS=3 by default; AUTOMERGE_ONLY=automerge-paper limits Automerge
#
# The anchors are installed from the npm registry into /tmp/anchors-crdt (never into the project).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(cd .. && pwd)/shared}
TRACES=${TRACES:-$SHARED/traces}
RUNS=${RUNS:-3}
OUT=${OUT:-bench-results/crdt-$(date +%Y%m%d-%H%M%S)}
AUTOMERGE_ONLY=${AUTOMERGE_ONLY:-automerge-paper}
ROOT=${ROOT:-/tmp/anchors-crdt}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ ! -d "$TRACES/sequential_traces" ]; then
  echo "no traces at $TRACES: running tandem's own benchmarks on a synthetic trace only" >&2
  go run ./crdt/internal/cmd/tracebench -runs "$RUNS" | tee "$OUT/tandem-go.txt"
  exit 0
fi

[ -f "$ROOT/crdt-trace-bench.mjs" ] || ROOT=$ROOT bash "$SHARED/anchors/crdt/setup.sh" >"$OUT/setup.log" 2>&1

echo "== load: $(uptime)" | tee "$OUT/machine.txt"
echo "== tandem Go core" >&2
go run ./crdt/internal/cmd/tracebench -traces "$TRACES" -runs "$RUNS" | tee "$OUT/tandem-go.txt"
echo "== tandem JavaScript twin" >&2
node --expose-gc client-js/bench/trace-bench.mjs --traces "$TRACES" --runs "$RUNS" | tee "$OUT/tandem-js.txt"
echo "== whole-history merges and snapshot loads: the JavaScript twin beside Yjs applyUpdate/applyUpdateV2" >&2
node --expose-gc bench/crdt-merge.mjs --anchors "$ROOT" --traces "$TRACES" --runs "$RUNS" | tee "$OUT/merge.txt"
echo "== Go floor (plain rune buffers, no CRDT)" >&2
(cd "$SHARED/anchors/crdt" && go run crdt-trace-floor.go -n "$RUNS" "$TRACES"/sequential_traces/*.json.gz) | tee "$OUT/go-floor.txt"
echo "== anchors" >&2
(cd "$ROOT" && node crdt-trace-bench.mjs matrix --runs "$RUNS" --libs yjs,loro,json-joy,floor-rope \
   --traces-dir "$TRACES/sequential_traces" --out "$OUT/anchors.jsonl")
(cd "$ROOT" && node crdt-trace-bench.mjs matrix --runs "$RUNS" --libs automerge --only "$AUTOMERGE_ONLY" \
   --traces-dir "$TRACES/sequential_traces" --out "$OUT/anchors.jsonl" --timeout 180)
(cd "$ROOT" && node crdt-trace-bench.mjs report --cold "$OUT/anchors.jsonl") | tee "$OUT/anchors.md"
echo "== load: $(uptime)" | tee -a "$OUT/machine.txt"
echo "results in $OUT" >&2
