#!/bin/bash
# A/B: LINREG_BENCH_RELAYOUT 0/1 alternating, eager + ORT at 10^6, eager train 40
cd /work/main
EXP=/tmp/camp/regressions/export
for i in 9 10 11 12 13 14 15 16; do
  for m in 0 1; do
    [ $((i % 2)) -eq 0 ] && m=$((1 - m))
    out=/tmp/camp5/r$m-$i
    /usr/bin/time -f "%e s" env LINREG_BENCH_RELAYOUT=$m .venv/bin/python -m bench bench --export-dir $EXP --out $out --devices cpu --runtimes eager onnxruntime --variants eager --batch-sizes 1000000 --train-sizes 40 > $out.log 2>&1
    echo "$(date +%T) relayout=$m run $i $(tail -1 $out.log)"
  done
done
