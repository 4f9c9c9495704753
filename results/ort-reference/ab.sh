#!/bin/bash
# arm A: HEAD's ort-stream (Mul, Add on [N]); arm B: the product graph's shape (Reshape, Mul, Add, Reshape on [N,1])
EXPORT=/tmp/c11/spread-quiet/export
for i in $(seq ${START:-0} ${END:-9}); do
  if (( i % 2 == 0 )); then order="A B"; else order="B A"; fi
  for arm in $order; do
    out=/tmp/c11/ab/$arm-$i
    [ -f $out/results.json ] && continue
    t0=$(date +%s.%N)
    (cd /work/camp$arm && PYTHONPATH=/work/camp$arm .venv/bin/python -m bench bench --export-dir $EXPORT --out $out \
       --devices cpu --runtimes onnxruntime --variants eager --batch-sizes 1 1000000 --train-sizes 40 > /dev/null 2>&1)
    echo "$arm $i $(echo "$(date +%s.%N) - $t0" | bc) s load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
