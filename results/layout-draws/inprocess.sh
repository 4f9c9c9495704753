#!/bin/bash
# ABAB... processes, each 12 draws
export MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_MAX_=0
for i in $(seq 1 12); do
  for m in A B; do /work/main/.venv/bin/python /work/exp/layout.py $m 12; done
done
