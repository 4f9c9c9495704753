"""Which artifact formats are data and which are programs, and what `verify` says about it.

Data: loading runs no code written by the file's author (ONNX in onnxruntime; the state_dict via
torch.load(weights_only=True)). Programs: loading or running them runs what their author wrote
(TorchScript code, an ExportedProgram's graph). Programs are inspected before loading
(export/pt2_archive.py, export/torchscript_archive.py): only what our exporter writes is accepted.
`verify --trust-only onnx` checks a stranger's folder without loading any program at all.
"""
from __future__ import annotations

from collections.abc import Iterable

FORMAT_KINDS = {"onnx": "data", "torchscript": "program", "exported_program": "program"}
DATA_FORMATS = tuple(f for f, kind in FORMAT_KINDS.items() if kind == "data")


def trust_lines(loaded: Iterable[str]) -> list[str]:
    """One line per format: data or program, and whether this run loaded it."""
    chosen = set(loaded)
    lines = ["state_dict (checkpoint): data, loaded with torch.load(weights_only=True) as the reference"]
    for fmt, kind in FORMAT_KINDS.items():
        if kind == "data":
            what = "data: onnxruntime runs its graph, no code of the file's author"
        else:
            what = ("program: runs code of the file's author; archive inspected first, only what our "
                    "exporter writes is accepted")
        state = "loaded" if fmt in chosen else "NOT loaded (--trust-only)"
        lines.append(f"{fmt}: {what}; {state}")
    return lines
