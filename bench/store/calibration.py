"""The machine's reference scales: one fixed scale per reference workload, set by its first run.

estimate_s = (workload / reference ratio) x scale. A run's own scale (p10 of its reference
blocks, bench.engine.reference.run_scales) moves with the host over the whole run: measured on
the development VM, 127 to 164 µs for the autograd reference over six consecutive runs whose
ratios agreed within 2.4%, and 94.6 µs in one run of eleven on a quiet host. So a run does not
use its own scale: the FIRST run on a machine stores its scales (same machine id, ISA, library
versions, reference kind and thread count), and every later run uses them unchanged. Between
runs estimate_s then moves only as much as the ratios do. (Keeping the lowest scale ever seen
was tried first: one unusually fast run lowered every later estimate by 40%.) The absolute level
is the first run's host state; every estimate records its run's own scale next to the one used,
and deleting the file (its path is in each estimate's scale_source) sets a new one.
It lives in a small JSON file ($LINREG_BENCH_CALIBRATION, default
~/.cache/linreg-bench/reference-scales.json; "off" disables it), written atomically, read as
untrusted input (a bad file is ignored with a warning and rewritten).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping

from linreg.files import write_text_atomic
from linreg.untrusted import UntrustedFileError, load_json

CALIBRATION_ENV = "LINREG_BENCH_CALIBRATION"
MAX_ENTRIES = 1000  # keys kept in the file (machines x versions x threads); the oldest go first


def calibration_path() -> Path | None:
    """The calibration file, or None when $LINREG_BENCH_CALIBRATION is "off"."""
    value = os.environ.get(CALIBRATION_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "linreg-bench" / "reference-scales.json"


def calibration_key() -> str:
    """What the scales are valid for: this machine, its CPU's ISA, the libraries (each scale's
    own key names its reference kind and thread count: bench.engine.reference.scale_key)."""
    import platform

    import onnxruntime
    import torch

    from bench.store.identity import machine_id

    parts = [machine_id(), torch.backends.cpu.get_cpu_capability(), torch.__version__,
             onnxruntime.__version__, platform.python_version()]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _read(path: Path, warn: Any) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = load_json(path, max_bytes=1 << 20)
    except UntrustedFileError as exc:
        warn(f"calibration file ignored ({exc}); it will be rewritten")
        return {}
    return doc if isinstance(doc, dict) else {}


def _best(entry: Any) -> tuple[float, str] | None:
    """(scale_s, since) of one stored kind, if it is well-formed."""
    if not isinstance(entry, dict):
        return None
    scale, since = entry.get("scale_s"), entry.get("since")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0 < scale < 1.0:
        return float(scale), str(since)[:40]
    return None


def machine_scales(run_scales: Mapping[str, float], key: str, path: Path | None,
                   warn: Any = lambda line: None) -> dict[str, dict[str, Any]]:
    """{kind: {scale_s, run_scale_s, source}}: the machine's stored scale where it has one, else
    this run's own scale, which is then stored for the runs after it."""
    stored = _read(path, warn) if path else {}
    entries = stored.get(key) if isinstance(stored.get(key), dict) else {}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out: dict[str, dict[str, Any]] = {}
    changed = False
    for kind, own in run_scales.items():
        best = _best(entries.get(kind))
        if best:
            out[kind] = {"scale_s": best[0], "run_scale_s": own,
                         "source": f"machine calibration (set {best[1]} in {path})"}
            continue
        out[kind] = {"scale_s": own, "run_scale_s": own,
                     "source": f"this run (the machine's first: stored in {path})" if path else "this run"}
        entries[kind] = {"scale_s": own, "since": now}
        changed = True
    if path and changed:
        stored = {k: v for k, v in stored.items() if k != key and isinstance(v, dict)}
        stored = dict(list(stored.items())[-(MAX_ENTRIES - 1):])
        stored[key] = entries
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(stored, indent=1, sort_keys=True))
        except OSError as exc:  # a read-only home must not fail a run: the run's own scale stands
            warn(f"calibration file not written ({exc.strerror or exc})")
    return out
