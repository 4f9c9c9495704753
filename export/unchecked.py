"""--run-unchecked-onnx: run a stranger's ONNX graph anyway, in a child process under two limits.

An ONNX graph that fails the exporter-shape checks (export/onnx_structure.py: a Loop, a
ConstantOfShape, a custom op) is refused by default. With the option, its hash is still checked
and it must still be self-contained (no external data: the manifest covers every byte it loads),
but its shape is not: onnxruntime runs it in a fresh `python -m export.unchecked` that applies a
memory bound (RLIMIT_DATA, linreg/limits.py) before importing onnxruntime, and is killed at the
wall-clock limit. A hang or a runaway allocation is then one `error:` line naming the limit.
The program formats (TorchScript, .pt2) have no such option: loading one can run code (their
archive checks), which no time or memory limit contains.

The child reads the very bytes the parent checked (copied to its scratch folder), never the
export folder again.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from export.admission import read_untrusted
from export.errors import ArtifactError
from export.manifest import ARTIFACT_MAX_BYTES, INPUT_NAME, OUTPUT_NAME
from export.onnx_structure import parse_self_contained
from linreg.errors import exception_line, first_line
from linreg.lifetime import child_environment, die_with_parent, scratch_folder
from linreg.limits import (apply_from_environment, bound_text, check_memory_gib, child_memory_environment,
                           is_out_of_memory)

DEFAULT_TIME_S = 60.0       # ours answer in milliseconds; onnxruntime's import is ~1 s of it
MAX_TIME_S = 3600.0
DEFAULT_MEMORY_GIB = 2.0    # onnxruntime and numpy need ~0.2 GiB; ours add kilobytes (10^6 rows: 8 MB)
OPTION = "--run-unchecked-onnx"


class UncheckedRunError(ArtifactError):
    """The unchecked graph's child failed, timed out or ran out of memory (one line, exit 2)."""


@dataclass(frozen=True)
class UncheckedLimits:
    time_s: float = DEFAULT_TIME_S
    memory_gib: float = DEFAULT_MEMORY_GIB

    def __post_init__(self) -> None:
        if not 0 < self.time_s <= MAX_TIME_S:  # NaN fails too
            raise ArtifactError(f"--unchecked-time-s must be in (0, {MAX_TIME_S:g}], got {self.time_s!r}")
        check_memory_gib(self.memory_gib, "--unchecked-memory-gib", ArtifactError)

    def describe(self) -> str:
        return f"a child process limited to {self.time_s:g} s and {self.memory_gib:g} GiB ({OPTION})"

    def to_json(self) -> dict[str, Any]:
        return {"option": OPTION, **asdict(self)}


def run_unchecked_onnx(path: Path, sha256: str, x: Any, limits: UncheckedLimits, device: str = "cpu") -> Any:
    """y for x[batch, 1] from the ONNX file at `path` (its bytes must still hash to `sha256` and be
    self-contained), run by onnxruntime in a bounded child."""
    import numpy as np

    data = read_untrusted(path, ARTIFACT_MAX_BYTES["onnx"])
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path} changed since its sha256 was checked")
    parse_self_contained(data, path)  # external data would load bytes no hash covers
    scratch = scratch_folder("linreg-unchecked")  # a killed run's is removed by the next (pid gone)
    try:
        (scratch / "model.onnx").write_bytes(data)
        np.save(scratch / "x.npy", np.ascontiguousarray(x, dtype=np.float32))
        env = child_memory_environment(limits.memory_gib, child_environment(), "--unchecked-memory-gib")
        root = str(Path(__file__).resolve().parent.parent)  # the child imports this very package
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:  # on a timeout (or Ctrl-C) subprocess.run kills the child and waits for it
            done = subprocess.run([sys.executable, "-m", "export.unchecked", str(scratch), device],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                                  env=env, timeout=limits.time_s)
        except subprocess.TimeoutExpired:
            raise UncheckedRunError(f"{path}: run unchecked, it did not finish within {limits.time_s:g} s "
                                f"(--unchecked-time-s); the child was killed") from None
        if done.returncode != 0:
            raise UncheckedRunError(f"{path}: run unchecked, {_failure(done, limits)}")
        out = scratch / "y.npy"
        if out.stat().st_size > 4 * len(x) + 4096:  # [batch, 1] float32 and a header: never load more
            raise UncheckedRunError(f"{path}: run unchecked, its output is larger than [batch, 1] float32")
        return np.load(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _failure(done: subprocess.CompletedProcess[str], limits: UncheckedLimits) -> str:
    lines = done.stderr.strip().splitlines()
    said = next((line[len("unchecked: "):] for line in reversed(lines) if line.startswith("unchecked: ")), None)
    if said:
        return said
    if done.returncode < 0:
        return f"the child was killed by signal {-done.returncode} (it may have run into {bound_text(limits.memory_gib)})"
    return f"the child exited with code {done.returncode}: {first_line(lines[-1] if lines else '')}"


def main(argv: list[str]) -> int:
    """The child: SCRATCH/model.onnx on SCRATCH/x.npy -> SCRATCH/y.npy; a failure is one stderr line."""
    die_with_parent()
    apply_from_environment()  # before onnxruntime maps anything
    scratch, device = Path(argv[0]), argv[1]
    try:
        import numpy as np
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = 1, 1, 3
        kind, _, ordinal = device.partition(":")  # cpu | cuda[:N], checked by the parent (predict --device)
        providers = ["CPUExecutionProvider"] if kind == "cpu" else \
            [("CUDAExecutionProvider", {"device_id": int(ordinal or 0)})]
        session = ort.InferenceSession(str(scratch / "model.onnx"), sess_options=options, providers=providers)
        wanted = "CPUExecutionProvider" if kind == "cpu" else "CUDAExecutionProvider"
        if session.get_providers()[:1] != [wanted]:  # ORT falls back to the CPU silently
            raise ValueError(f"onnxruntime runs {session.get_providers()[:1]} instead of {wanted}")
        x = np.load(scratch / "x.npy")
        y = np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
        if y.shape != x.shape or y.dtype != np.float32:  # written only when it is what we asked for
            raise ValueError(f"output {OUTPUT_NAME!r} has shape {list(y.shape)[:4]} and dtype {y.dtype}, "
                             f"expected {list(x.shape)} float32")
        np.save(scratch / "y.npy", y)
        return 0
    except Exception as exc:  # noqa: BLE001 - ORT's Fail, InvalidGraph, MemoryError, ...
        line = f"{type(exc).__name__}: {exception_line(exc)}"
        sys.stderr.write("unchecked: " + (f"out of memory under {bound_text()}: {line}"
                                          if is_out_of_memory(exc) else f"onnxruntime failed: {line}") + "\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["UncheckedLimits", "UncheckedRunError", "run_unchecked_onnx", "OPTION"]
