#!/usr/bin/env bash
# The README's "Latency under load" figures, one after the other, each step's output with
# /proc/loadavg before and after (run it on a quiet machine: other jobs move every figure):
#
#     tests/benchmarks/measure_loadgen.sh EXPORT_DIR OUT_DIR
#
# Server at half the Offline rate and at 10x the peak take their rates from the Offline and
# --find-peak results of the same run. Writes OUT_DIR/<step>/ and OUT_DIR/measure-log.txt.
set -u
EXP=${1:?usage: measure_loadgen.sh EXPORT_DIR OUT_DIR}
OUT=${2:?usage: measure_loadgen.sh EXPORT_DIR OUT_DIR}
PY=${PYTHON:-.venv/bin/python}
LG=("$PY" -m bench loadgen --export-dir "$EXP" --runtime onnxruntime)
mkdir -p "$OUT"
LOG="$OUT/measure-log.txt"
echo "# tests/benchmarks/measure_loadgen.sh $EXP $OUT ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD))" > "$LOG"

step() {  # step NAME COMMAND...: run it, log its last lines, the exit code and the load
    local name=$1; shift
    { echo "### $name"; echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"; } >> "$LOG"
    "$@" > "$OUT/$name.out" 2>&1
    local rc=$?
    { grep -E "^(loadgen|round)" "$OUT/$name.out" | tail -20; echo "exit $rc"
      echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"; } >> "$LOG"
}
qps() { "$PY" -c "import json,sys; print(round(json.load(open(sys.argv[1]))[sys.argv[2]]))" "$@"; }

step single-stream "${LG[@]}" --scenario single-stream --duration-s 10 --out "$OUT/single-stream"
step vs-bench "$PY" tests/benchmarks/loadgen_vs_bench.py --export-dir "$EXP" --out "$OUT/vs-bench" --rounds 5
step offline "${LG[@]}" --scenario offline --duration-s 2 --out "$OUT/offline"
step multi-stream "${LG[@]}" --scenario multi-stream --duration-s 2 --out "$OUT/multi-stream"
step server-peak "${LG[@]}" --scenario server --find-peak --target-qps 500000 --duration-s 2 --out "$OUT/server-peak"
HALF=$(( $(qps "$OUT/offline/loadgen.json" qps) / 2 ))
step server-half-offline "${LG[@]}" --scenario server --target-qps "$HALF" --duration-s 2 --out "$OUT/server-half-offline"
step server-half-offline-worker "${LG[@]}" --scenario server --server-batching worker --target-qps "$HALF" \
    --duration-s 2 --out "$OUT/server-half-offline-worker"
step floor-server-half-offline "$PY" tests/benchmarks/loadgen_floor.py --server-qps "$HALF" --duration-s 2 \
    "$OUT/floor-server-half-offline"
grep -E "percentile|Result|samples per second" "$OUT/floor-server-half-offline.out" >> "$LOG"
TENX=$(( $("$PY" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['find_peak']['peak_qps']))" \
    "$OUT/server-peak/loadgen.json") * 10 ))
step server-10x-peak "${LG[@]}" --scenario server --target-qps "$TENX" --duration-s 0.25 --out "$OUT/server-10x-peak"
echo "half the offline rate: $HALF QPS; 10x the peak: $TENX QPS" >> "$LOG"
cat "$LOG"
