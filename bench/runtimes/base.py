"""The runtime contract: where a runtime loads from, and what it hands the timing engine.

A runtime is a small class with `name`, `load(artifacts, device, threads)` and `bind(x)`; heavy
imports happen inside `load`, so `import bench` stays fast and works where a runtime is missing.
`bind` returns a Bound: the call to time, how to read its output (for parity), how to sync.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

from bench.engine.timing import BlockTimer
from export.errors import ArtifactError


@dataclass(frozen=True)
class Artifacts:
    """Where a runtime loads from: the state_dict checkpoint and the export folder's files."""

    checkpoint: Path
    paths: dict[str, Path] = field(default_factory=dict)  # manifest format -> artifact file
    unchecked_onnx: bool = False  # bench --run-unchecked-onnx: the graph's shape is not checked (workers only)

    @classmethod
    def from_export_dir(cls, export_dir: Path, checkpoint: Path | None = None,
                        unchecked_onnx: bool = False) -> "Artifacts":
        from export.admission import admit_export_folder
        from export.manifest import resolve_checkpoint, resolve_inside

        manifest = admit_export_folder(export_dir, check_graphs=not unchecked_onnx)
        paths = {e["format"]: resolve_inside(export_dir, e["path"]) for e in manifest["artifacts"]}
        source = checkpoint or resolve_checkpoint(export_dir, manifest["source_checkpoint"]["path"])
        return cls(Path(source), paths, unchecked_onnx)

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "paths": {k: str(v) for k, v in self.paths.items()},
                **({"unchecked_onnx": True} if self.unchecked_onnx else {})}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Artifacts":
        return cls(Path(d["checkpoint"]), {k: Path(v) for k, v in d.get("paths", {}).items()},
                   bool(d.get("unchecked_onnx")))


@dataclass
class Bound:
    """One runtime bound to one input: the call to time, and how to read and sync its output."""

    call: Callable[[], Any]
    output: Callable[[], Any]                     # the last call's output (any device)
    sync: Callable[[], None] | None = None
    context: Callable[[], ContextManager[Any]] = contextlib.nullcontext
    block: BlockTimer | None = None               # torch_timer for torch runtimes
    extra: dict[str, Any] = field(default_factory=dict)
    # Host arrays the call reads and writes in place (ORT io_binding on the CPU), else None: a
    # server writes the next batch's inputs into host_input and answers straight from host_output.
    host_input: Any = None
    host_output: Any = None


ARTIFACT_KINDS = ("checkpoint", "torchscript", "onnx", "exported_program")


class Runtime(Protocol):
    """The contract every runtime keeps, built-in or plug-in.

    - `load` reads what the runtime needs (artifacts.checkpoint, or artifact_path(artifacts, fmt))
      onto `device` with `threads` intra-op threads; a LinregError there (no such provider, no
      such artifact) becomes a skip record with its message.
    - `bind(x)` takes the [batch, 1] float32 CPU tensor of one size and returns a Bound: `call`
      is what is timed, `output()` runs once and returns its result (compared with the
      state_dict model before any timing), `sync` waits for a device that queues work.
    """

    name: str

    def load(self, artifacts: Artifacts, device: str, threads: int) -> None: ...
    def bind(self, x: Any) -> Bound: ...


def artifact_path(artifacts: Artifacts, fmt: str) -> Path:
    if fmt not in artifacts.paths:
        raise ArtifactError(f"no {fmt} artifact in the export folder")
    return artifacts.paths[fmt]


def make_input(batch: int) -> Any:
    """The benchmark input: `batch` evenly spaced float32 points on [0, 1], as a [batch, 1] column."""
    import torch

    return torch.linspace(0.0, 1.0, batch, dtype=torch.float32).unsqueeze(1)
