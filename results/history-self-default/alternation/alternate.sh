#!/bin/bash
for i in 1 2 3; do for side in A B; do
  cd /tmp/wt$side && PYTHONPATH=/tmp/wt$side /work/main/.venv/bin/python -m bench bench --checkpoint CHECKPOINT --out /tmp/ab/$side$i --runtimes eager --variants eager --batch-sizes 1000000 --train-sizes 40 --devices cpu > /tmp/ab/$side$i.log 2>&1
  echo "$side$i $(date +%T) rc=$?"
done; done
