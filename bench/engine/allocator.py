"""The allocator settings every measuring process starts with (bench workers, ddp ranks).

Large thresholds keep freed big buffers in the heap instead of returning them to the OS, so
calls at 10^6-10^7 elements stop page-faulting fresh memory on every call (minor faults per call
are recorded with every measurement). MALLOC_MMAP_MAX_=0 also covers buffers above the
largest threshold glibc accepts for mmap (32 MiB on 64-bit). glibc reads them at process start.
"""
from __future__ import annotations

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "268435456",
    "MALLOC_TRIM_THRESHOLD_": "268435456",
    "MALLOC_MMAP_MAX_": "0",
}
