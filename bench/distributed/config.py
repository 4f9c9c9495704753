"""What a data-parallel scaling run is asked to do: a frozen config that validates itself.

Bad input (a world size < 1, nccl without CUDA, a malformed endpoint) raises DdpInputError, which
the CLI prints as one `error: ...` line with exit 2 before anything is launched.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from linreg.errors import LinregError
from linreg.limits import check_memory_gib, default_child_memory_gib

BACKENDS = ("gloo", "nccl", "auto")
DEVICES = ("cpu", "cuda")
FAULT_KINDS = ("crash", "hang")
DEFAULT_SIZES = (10**4, 10**6)
DEFAULT_RDZV_ID = "linreg-bench-ddp"
# Refused up front: each rank briefly holds all N samples (~24 bytes each while they are made),
# so 10^8 is ~2.4 GB per rank; more ranks per node than this only measures the scheduler.
MAX_N = 10**8
MAX_RANKS_PER_NODE = 256
MAX_EPOCHS = 1_000_000
MAX_THREADS = 1024
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:(\d{1,5}))?$")


class DdpInputError(LinregError):
    """A `ddp` request that cannot run as asked (exit 2, nothing launched)."""


@dataclass(frozen=True)
class Fault:
    """A deliberate failure for tests: `kind` at `world_size` on `rank`, after its first epoch."""

    kind: str         # "crash" (raise) | "hang" (sleep until killed)
    world_size: int
    rank: int

    @classmethod
    def parse(cls, text: str) -> "Fault":
        parts = text.split(":")
        if len(parts) != 3 or parts[0] not in FAULT_KINDS or not all(p.isdigit() for p in parts[1:]):
            raise DdpInputError(f"--inject-fault must be KIND:WORLD_SIZE:RANK with KIND in "
                                f"{', '.join(FAULT_KINDS)}, got {text!r}")
        return cls(parts[0], int(parts[1]), int(parts[2]))


@dataclass(frozen=True)
class DdpConfig:
    world_sizes: tuple[int, ...] = (1, 2)
    sizes: tuple[int, ...] = DEFAULT_SIZES  # N, split into equal shards across the ranks
    epochs: int = 100           # timed full-batch epochs per (world size, N): the median is over these
    warmup_epochs: int = 5      # untimed first epochs (DDP builds its buckets, caches warm up)
    backend: str = "auto"       # "auto": nccl on cuda, gloo on cpu
    device: str = "cpu"         # "cpu" | "cuda" (one GPU per rank: cuda:LOCAL_RANK)
    threads: int = 1            # intra-op threads PER RANK, pinned: ranks x threads vs cores is recorded
    timeout_s: float = 300.0    # per world size: a crashed or hung job is ended after this
    rank_memory_gib: float = field(default_factory=default_child_memory_gib)  # each rank's RLIMIT_DATA
    nnodes: int = 1             # > 1: several nodes, through torchrun's c10d rendezvous
    rdzv_endpoint: str | None = None  # HOST[:PORT] of the rendezvous store (several nodes)
    rdzv_id: str = DEFAULT_RDZV_ID    # same on every node; the world size is appended per launch
    port: int | None = None     # single node: the rendezvous port (None: a free one, --standalone)
    fault: Fault | None = None  # tests only
    cuda_available: bool = field(default=False, compare=False, repr=False)  # probed by the CLI
    gpu_count: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._check_counts()
        if self.backend not in BACKENDS:
            raise DdpInputError(f"unknown backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        if self.device not in DEVICES:
            raise DdpInputError(f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")
        if self.device == "cuda" and not self.cuda_available:
            raise DdpInputError("--device cuda: no CUDA device is available here")
        if self.backend == "nccl" and not self.cuda_available:
            raise DdpInputError("--backend nccl needs CUDA, and no CUDA device is available here")
        if self.backend == "nccl" and self.device != "cuda":
            raise DdpInputError("--backend nccl runs on GPUs: add --device cuda (gloo runs on the CPU)")
        self._check_rendezvous()

    def _check_counts(self) -> None:
        if not self.world_sizes:
            raise DdpInputError("--world-sizes needs at least one world size")
        bad = next((k for k in self.world_sizes if k < 1), None)
        if bad is not None:
            raise DdpInputError(f"world size must be >= 1, got {bad}")
        if self.nnodes < 1:
            raise DdpInputError(f"--nnodes must be >= 1, got {self.nnodes}")
        big = next((k for k in self.world_sizes if k > MAX_RANKS_PER_NODE * self.nnodes), None)
        if big is not None:
            raise DdpInputError(f"world size {big} is over the limit of {MAX_RANKS_PER_NODE} ranks per node "
                                f"({self.nnodes} node(s))")
        bad = next((n for n in self.sizes if not 2 <= n <= MAX_N), None)
        if not self.sizes or bad is not None:
            raise DdpInputError(f"--n must be in 2..{MAX_N} (10^8 is ~2.4 GB per rank), got {bad}")
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise DdpInputError(f"--epochs must be in 1..{MAX_EPOCHS}, got {self.epochs}")
        if not 0 <= self.warmup_epochs <= MAX_EPOCHS:
            raise DdpInputError(f"--warmup-epochs must be in 0..{MAX_EPOCHS}, got {self.warmup_epochs}")
        if not 1 <= self.threads <= MAX_THREADS:
            raise DdpInputError(f"--threads must be in 1..{MAX_THREADS}, got {self.threads}")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= 7 * 86400):
            raise DdpInputError(f"--timeout-s must be a finite number of seconds in (0, 604800], "
                                f"got {self.timeout_s}")
        check_memory_gib(self.rank_memory_gib, "--rank-memory-gib", DdpInputError)

    def _check_rendezvous(self) -> None:
        if self.port is not None and not 1 <= self.port <= 65535:
            raise DdpInputError(f"--port must be in 1..65535, got {self.port}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise DdpInputError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
        if self.rdzv_endpoint is not None:
            m = _ENDPOINT.match(self.rdzv_endpoint)
            if not m or (m.group(3) and not 1 <= int(m.group(3)) <= 65535):
                raise DdpInputError(f"--rdzv-endpoint must be HOST[:PORT], got {self.rdzv_endpoint!r}")
            if self.port is not None:
                raise DdpInputError("--port is for one node; with --rdzv-endpoint the port is in it")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.rdzv_id):
            raise DdpInputError(f"--rdzv-id must be 1-64 letters, digits, '.', '_' or '-', got {self.rdzv_id!r}")

    @property
    def resolved_backend(self) -> str:
        """The backend in use: auto is nccl on GPUs and gloo on CPUs."""
        if self.backend != "auto":
            return self.backend
        return "nccl" if self.device == "cuda" else "gloo"

    @property
    def total_epochs(self) -> int:
        return self.warmup_epochs + self.epochs

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("cuda_available")
        d.pop("gpu_count")
        d["fault"] = asdict(self.fault) if self.fault else None
        d["backend_resolved"] = self.resolved_backend
        return d
