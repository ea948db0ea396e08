#!/usr/bin/env bash
# Runs tandem's server benchmarks with `tandem-bench --spawn`: a fresh server per run, on 127.0.0.1,
# with a temporary data file; results appended as JSON lines to $OUT/<suite>.jsonl.
#
# usage: bash bench/run.sh [idle|typing|apply|sweep|durable|durable1000|heavy|sync|all]   (from the repository root)
#        bash bench/run.sh anchor-typing|anchor-sweep|anchor-idle   the anchors (set up by
#        bench/anchors.sh setup) driven by this same Go generator (tandem-bench --proto yws|hocus)
#        bash bench/run.sh sweep3   tandem and both anchors, same generator, servers interleaved per
#        rate (2,500 to 25,000 edits/s), each step quiet-gated and retried once if noisy
#        PIN=1 bash bench/run.sh ...   server on one core: server on CPU 0, generator on CPU 1
# env:   OUT (default /tmp/tandem-bench/results), BIN (the server, default /tmp/tandem-bench/tandem) and
#        BENCH_BIN (the generator, default /tmp/tandem-bench/tandem-bench), both built here unless NOBUILD,
#        REPS (default 3), RATES (sweep, per-client edits/s), TRACE (automerge-paper trace),
#        QUIET_MAX (% of a core of other work tolerated before a run starts, default 25),
#        QUIET_WAIT (s to wait for that, default 120), SERVER_ARGS (serve flags for the spawned
#        server; default lifts the per-connection update rate limit (60/s), which the sweep's and the
#        durable closed loop's rates would trip), PIN (1: server on CPU 0, generator on CPU 1, each
#        GOMAXPROCS=1; see lib.sh), NOISY (sweep3: retry a step whose other CPU exceeded this % of a
#        core, default 40)
# Every run is bounded (fixed client counts, windows and timeouts); only processes this script starts
# are stopped, by PID (tandem-bench stops the server it spawned).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/tandem-bench/results}
BIN=${BIN:-/tmp/tandem-bench/tandem}
BENCH_BIN=${BENCH_BIN:-/tmp/tandem-bench/tandem-bench}
REPS=${REPS:-3}
SERVER_ARGS=${SERVER_ARGS:-"--updates-per-second 100000 --update-burst 100000"}
TRACE=${TRACE:-/work/shared/traces/sequential_traces/automerge-paper.json.gz}
mkdir -p "$OUT" "$(dirname "$BIN")"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ ! -x "$BIN" ] || [ ! -x "$BENCH_BIN" ] || [ -z "${NOBUILD:-}" ]; then
  (cd "$ROOT" && go build -o "$BIN" ./cmd/tandem && go build -o "$BENCH_BIN" ./cmd/tandem-bench) || exit 1
fi

source "$ROOT/bench/lib.sh"

bench() { # bench <suite> <args...>: one run with a spawned server, appended to $OUT/<suite>.jsonl
  local suite=$1; shift
  "${GEN_PIN[@]}" "$BENCH_BIN" --spawn --server-bin "$BIN" "${SPAWN_PIN[@]}" --server-args "$SERVER_ARGS" --out "$OUT/$suite.jsonl" "$@"
}

run_idle() { # idle memory per connection: 1,000 and 5,000 clients over 100 documents
  for rep in $(seq "$REPS"); do
    quiet; bench idle --mode idle --docs 100 --steps 1000,5000 --settle 20s --label "idle-rep$rep"
  done
}

run_typing() { # 500 clients over 50 documents, 5 edits/s each (2,500/s), observers decode only
  for rep in $(seq "$REPS"); do
    quiet; bench typing --clients 500 --docs 50 --rate 5 --warmup 5s --duration 30s --label "typing-rep$rep"
  done
}

run_apply() { # the same, every client applying every update (a real editor)
  for rep in $(seq "$REPS"); do
    quiet; bench typing-apply --clients 500 --docs 50 --rate 5 --warmup 5s --duration 30s --apply --label "apply-rep$rep"
  done
}

run_sweep() { # highest rate with p99 <= 100 ms, 0 dropped, 0 closed, >= 95 % of target; a fresh
  # server per step; stops after 2 failed steps in a row
  local rates=${RATES:-"20 30 50 70 100 130 160 200"}
  for rep in $(seq "$REPS"); do
    local fails=0
    for r in $rates; do
      [ "$fails" -ge 2 ] && break
      quiet
      line=$(bench sweep --clients 500 --docs 50 --rate "$r" --warmup 3s --duration 15s --grace 5s --label "sweep-rep$rep")
      echo "$line"
      ok=$(echo "$line" | passed)
      if [ "$ok" = 1 ]; then fails=0; else fails=$((fails + 1)); fi
    done
  done
}

run_durable() { # acknowledged (fsynced) edits per second: 50 clients over 10 documents, closed loop
  for rep in $(seq "$REPS"); do
    quiet; bench durable --mode durable --clients 50 --docs 10 --warmup 2s --duration 20s --label "durable-rep$rep"
    quiet; bench durable --mode durable --clients 500 --docs 50 --warmup 2s --duration 20s --label "durable500-rep$rep"
  done
}

run_durable1000() { # the crowd's ack latency (latency mode, 1,000 clients over 100 documents, 5 edits/s) and its closed-loop durable rate
  for rep in $(seq "$REPS"); do
    quiet; bench acks --clients 1000 --docs 100 --rate 5 --duration 30s --label "acks1000-rep$rep"
    quiet; bench durable --mode durable --clients 1000 --docs 100 --warmup 2s --duration 20s --label "durable1000-rep$rep"
  done
}

run_heavy() { # 30 s of 500 KB/s into one document: data file against the document, reload RSS
  for rep in $(seq "$REPS"); do
    quiet; bench heavy --mode heavy --write-rate 500000 --update-bytes 16384 --duration 30s --label "heavy-rep$rep"
  done
}

run_sync() { # initial sync of a large document; the first reader after a restart is the cold load
  for rep in $(seq "$REPS"); do
    quiet; bench sync --mode sync --trace "$TRACE" --chunk 1000 --readers 10 --label "sync-rep$rep"
    for pat in runs random seq; do
      quiet; bench sync --mode sync --pattern "$pat" --n 100000 --chunk 1000 --seed "$rep" --readers 10 --label "sync-rep$rep"
    done
  done
}

run_anchor_typing() {
  for rep in $(seq "$REPS"); do for srv in hocus yws; do
    quiet; anchor "$srv" typing --clients 500 --docs 50 --rate 5 --warmup 5s --duration 30s --label "typing-rep$rep"
  done; done
}

run_anchor_sweep() { # servers interleaved per rate; a server leaves after 2 failed steps in a row
  local rates=${RATES:-"10 15 20 25 30 40 50"}
  for rep in $(seq "$REPS"); do
    declare -A fails=([hocus]=0 [yws]=0)
    for r in $rates; do for srv in hocus yws; do
      [ "${fails[$srv]}" -ge 2 ] && continue
      quiet
      line=$(anchor "$srv" sweep --clients 500 --docs 50 --rate "$r" --warmup 3s --duration 15s --grace 5s --label "sweep-rep$rep")
      echo "$line"
      ok=$(echo "$line" | passed)
      if [ "$ok" = 1 ]; then fails[$srv]=0; else fails[$srv]=$((fails[$srv] + 1)); fi
    done; done
  done
}

run_sweep3() { # tandem, Hocuspocus and y-websocket with the same generator (and the same pinning):
  # 500 clients over 50 documents at per-client rates giving 2,500 to 25,000 edits/s, a fresh server
  # per step, servers interleaved per rate so that they see the same background; each step waits for
  # a quiet machine and is run again once if its window was noisy; a server leaves after 2 failed
  # steps in a row
  local rates=${RATES:-"5 10 15 20 25 30 40 50"} servers=${SERVERS:-"tandem hocus yws"} noisy=${NOISY:-40}
  for rep in $(seq "${REPS:-2}"); do
    declare -A fails=()
    for r in $rates; do for srv in $servers; do
      [ "${fails[$srv]:-0}" -ge 2 ] && continue
      for attempt in 1 2; do
        quiet
        line=$(latency_step "$srv" sweep3 --clients 500 --docs 50 --rate "$r" --warmup 3s --duration 15s --grace 5s --label "sweep3-rep$rep-a$attempt")
        echo "$line"
        [ "$(echo "$line" | jq -r "if .other_cpu_pct > $noisy then 1 else 0 end")" = 0 ] && break
      done
      if [ "$(echo "$line" | passed)" = 1 ]; then fails[$srv]=0; else fails[$srv]=$(( ${fails[$srv]:-0} + 1 )); fi
    done; done
  done
}

run_anchor_idle() {
  for rep in $(seq "$REPS"); do for srv in hocus yws; do
    anchor "$srv" idle --mode idle --docs 100 --steps 1000,5000 --settle 20s --label "idle-rep$rep"
  done; done
}

what=${1:-all}
case $what in
  idle) run_idle ;; typing) run_typing ;; apply) run_apply ;; sweep) run_sweep ;; durable) run_durable ;; sync) run_sync ;;
  durable1000) run_durable1000 ;; heavy) run_heavy ;;
  anchor-typing) run_anchor_typing ;; anchor-sweep) run_anchor_sweep ;; anchor-idle) run_anchor_idle ;;
  sweep3) run_sweep3 ;;
  all) run_idle; run_typing; run_sync; run_durable; run_sweep ;;
  *) echo "unknown suite: $what" >&2; exit 2 ;;
esac
