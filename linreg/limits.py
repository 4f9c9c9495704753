"""Memory bounds for child processes: each worker, LoadGen child, sweep worker and DDP rank.

Why RLIMIT_DATA, not RLIMIT_AS: RLIMIT_AS counts every mapping, and torch's process maps
gigabytes it never touches (shared libraries, the CUDA driver's address-space reservations, thread
stacks); RLIMIT_DATA counts only private writable memory (brk and anonymous mmap, Linux >= 4.7),
which is what a runaway allocation grows. Measured on the 2-vCPU VM (tests/benchmarks/
measure_child_memory.py, results/fuzz/child-memory.txt); not yet on a GPU machine, where the CUDA
driver's address-space reservations are PROT_NONE (not counted) but pinned host buffers count. An allocation past the bound fails in
the child (MemoryError, torch's "can't allocate memory", ORT's bad_alloc): the child reports it as
one line naming the bound, the parent records it as that child's failure.

The bound travels in the environment (MEMORY_ENV): a child applies it at start, before its heavy
imports (apply_from_environment), so it knows the number to name; grandchildren (torchrun's ranks,
inductor's compile workers) inherit both the limit and the variable.
"""
from __future__ import annotations

import os
import resource
from typing import Any

GIB = 1 << 30
# Per child process. The largest measured worker (default sizes) peaked at under 2 GiB of data;
# see results/fuzz/child-memory.txt. 8 GiB leaves room for plug-ins and larger --batch-sizes.
DEFAULT_CHILD_MEMORY_GIB = 8.0
MIN_CHILD_MEMORY_GIB = 0.5   # an interpreter with torch imported holds ~0.3 GiB of data
MEMORY_ENV = "LINREG_BENCH_CHILD_MEMORY_GIB"
OPTION_ENV = "LINREG_BENCH_CHILD_MEMORY_OPTION"  # the option that set it, for the child's message
# What an allocation failure says, by library (glibc, torch's CPU allocator, ORT, numpy, CUDA).
OOM_WORDS = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "bad allocation",
             "failed to allocate", "unable to allocate", "out of memory")


def physical_memory_gib() -> float:
    """This machine's memory (the upper bound of a child's bound); huge when unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):
        return float(1 << 20)


def default_child_memory_gib() -> float:
    """DEFAULT_CHILD_MEMORY_GIB, or the machine's memory where that is less."""
    return min(DEFAULT_CHILD_MEMORY_GIB, max(MIN_CHILD_MEMORY_GIB, physical_memory_gib()))


def check_memory_gib(value: Any, name: str = "child_memory_gib", error: type[Exception] = ValueError) -> float:
    """`value` as a bound in GiB, or `error`: a finite number within [0.5, this machine's memory]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number of GiB, got {value!r}")
    high = max(MIN_CHILD_MEMORY_GIB, physical_memory_gib())
    if not MIN_CHILD_MEMORY_GIB <= value <= high:  # NaN fails both comparisons
        raise error(f"{name} must be within [{MIN_CHILD_MEMORY_GIB:g}, {high:.4g}] GiB "
                         f"(this machine's memory), got {value!r}")
    return float(value)


def limit_memory(gib: float) -> bool:
    """In the child: cap its private writable memory at `gib` (soft and hard: it cannot raise it
    again). False where the platform has no RLIMIT_DATA or refuses to lower it."""
    limit = getattr(resource, "RLIMIT_DATA", None)
    if limit is None:
        return False
    wanted = int(gib * GIB)
    try:
        _, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        resource.setrlimit(limit, (wanted, wanted))
    except (OSError, ValueError):
        return False
    return True


def child_memory_environment(gib: float, env: dict[str, str] | None = None,
                             option: str = "--child-memory-gib") -> dict[str, str]:
    """`env` (default: ours) with the bound a child applies at start, and the option that sets it."""
    return {**(os.environ if env is None else env), MEMORY_ENV: f"{gib:g}", OPTION_ENV: option}


def apply_from_environment() -> float | None:
    """In a child: apply the bound its parent put in the environment; the bound in GiB, or None."""
    text = os.environ.get(MEMORY_ENV, "")
    try:
        gib = float(text)
    except ValueError:
        return None
    return gib if gib > 0 and limit_memory(gib) else None


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocation failure (the bound, or the machine itself, said no)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(word in text for word in OOM_WORDS)


def bound_text(gib: float | None = None) -> str:
    """'its memory bound of 8 GiB (RLIMIT_DATA, --child-memory-gib)': how a failure names its bound."""
    gib = gib if gib is not None else current_bound_gib()
    option = os.environ.get(OPTION_ENV, "--child-memory-gib")[:40]
    return f"its memory bound of {gib:g} GiB (RLIMIT_DATA, {option})" if gib else "no memory bound"


def current_bound_gib() -> float | None:
    """The bound this process runs under, from the environment; None when it has none."""
    try:
        return float(os.environ[MEMORY_ENV])
    except (KeyError, ValueError):
        return None
