#!/usr/bin/env bash
# Quiet-gated latency steps, for a machine shared with other work: before each step, wait (at most
# QUIET_WAIT s) until the rest of the machine uses at most QUIET_MAX % of a core; run it; retry once
# if its window was still noisy (other CPU above NOISY % of a core). Each step is
# server:per-client rate:window seconds, 500 clients over 50 documents; tandem runs with --spawn,
# the anchors are started fresh (bench/anchors.sh setup first) and driven by the same Go generator.
#
# usage: STEPS="tandem:5:30 yws:5:30 hocus:5:30 tandem:20:15 ..." bash bench/quietsuite.sh
# env:   OUT (default /tmp/tandem-bench/quiet): typing.jsonl (30 s windows), sweep.jsonl (others),
#        context.log (what else ran before each step); BIN, BENCH_BIN, NOBUILD as run.sh; DEADLINE (s, default
#        10800) stops starting new steps; SERVER_ARGS (default: no per-connection update rate limit,
#        which the sweep's higher rates would trip) for the spawned tandem server; PIN=1 runs each
#        server on CPU 0 and the generator on CPU 1 (lib.sh).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/tandem-bench/quiet}
BIN=${BIN:-/tmp/tandem-bench/tandem}
BENCH_BIN=${BENCH_BIN:-/tmp/tandem-bench/tandem-bench}
NOISY=${NOISY:-40}
SERVER_ARGS=${SERVER_ARGS:-"--updates-per-second 100000 --update-burst 100000"}
mkdir -p "$OUT" "$(dirname "$BIN")"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ ! -x "$BIN" ] || [ ! -x "$BENCH_BIN" ] || [ -z "${NOBUILD:-}" ]; then
  (cd "$ROOT" && go build -o "$BIN" ./cmd/tandem && go build -o "$BENCH_BIN" ./cmd/tandem-bench) || exit 1
fi
source "$ROOT/bench/lib.sh"
T_END=$(( $(date +%s) + ${DEADLINE:-10800} ))

run_step() { # server rate window label
  local srv=$1 r=$2 w=$3 label=$4 file=sweep warm=3s
  if [ "$w" = 30 ]; then file=typing; warm=5s; fi
  latency_step "$srv" "$file" --clients 500 --docs 50 --rate "$r" --warmup "$warm" --duration "${w}s" --grace 5s --label "$label"
}

for st in ${STEPS:-"tandem:5:30 yws:5:30 hocus:5:30"}; do
  IFS=: read -r srv r w <<<"$st"
  for attempt in 1 2; do
    [ "$(date +%s)" -ge "$T_END" ] && exit 0
    QUIET_MAX=${QUIET_MAX:-25} QUIET_WAIT=${QUIET_WAIT:-1200} quiet
    { echo "== $(date -u +%H:%M:%S) $st attempt $attempt"; cat /proc/loadavg; ps aux --sort=-%cpu | sed -n 2,5p | cut -c1-140; } >>"$OUT/context.log"
    line=$(run_step "$srv" "$r" "$w" "quiet-a$attempt" 2>>"$OUT/stderr.log")
    echo "$line"
    noisy=$(echo "$line" | jq -r "if .other_cpu_pct > $NOISY then 1 else 0 end")
    [ "$noisy" = 0 ] && break
  done
done
