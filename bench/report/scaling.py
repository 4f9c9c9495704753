"""The report's data-parallel section (`linreg-bench ddp`): epoch time, all-reduce share and
scaling efficiency per world size, and whether the ranks shared cores.

Pure functions over results.json entries, so any stored results file renders the same section.
"""
from __future__ import annotations

from typing import Any

from bench.engine.units import format_duration, format_size

DDP_RUNTIME = "ddp"  # the runtime name of data-parallel records (bench/distributed/records.py)

SCALING_NOTES = """\
- **Epoch time** is the median over the timed epochs of the slowest rank's time for one
  full-batch DDP step; every epoch starts with a barrier, so the slowest rank sets it.
- **All-reduce** is the time from launching the gradient bucket's all-reduce to its completion
  (a DDP comm hook around torch's own allreduce_hook; mean over ranks, median over epochs). It
  includes waiting for the slowest rank. *Isolated* is one all-reduce of the same size after a
  barrier, nothing else running: the collective's own cost.
- **Scaling efficiency** is time(1) / (k × time(k)): 1.0 is perfect scaling, 0.5 means k ranks
  took as long per epoch as one rank doing all the work would have taken twice over.
- **Parity**: rank 0's final parameters against the single-process eager loop, and every rank
  bit-identical to rank 0."""


def _ms(seconds: Any) -> str:
    return format_duration(seconds if isinstance(seconds, (int, float)) else None, "ms")


def _us(seconds: Any) -> str:
    return format_duration(seconds if isinstance(seconds, (int, float)) else None, "µs")


def _pct(x: Any) -> str:
    return "–" if not isinstance(x, (int, float)) else f"{x:.0%}"


def _row(e: dict[str, Any]) -> list[str]:
    size = format_size(int(e["batch_size"]))
    if "skip_reason" in e:
        return [size, str(e["world_size"]), "–", "–", "–", "–", "–", "–", e["skip_reason"]]
    cores = f"{e.get('nproc_per_node', '?')}×{e.get('threads', '?')} on {e.get('host_cpus', '?')}"
    parity = e.get("parity") or {}
    verdict = ("PASS" if parity.get("passed") else "**FAIL**") if parity else "–"
    eff = e.get("scaling_efficiency")
    return [size, str(e["world_size"]), f"{_ms(e.get('median_s'))} ± {_ms(e.get('iqr_s'))}",
            "–" if eff is None else f"{eff:.2f}",
            f"{_us(e.get('allreduce_median_s'))} ({_pct(e.get('allreduce_share'))})",
            _us(e.get("allreduce_isolated_median_s")), cores,
            f"{verdict} (max abs err {parity.get('max_abs_error', '–'):.2g})" if parity else verdict,
            "workers share cores" if e.get("ranks_share_cores") else ""]


def scaling_lines(entries: list[dict[str, Any]]) -> list[str]:
    """The `## Data-parallel training` section, or nothing when the run has no ddp entries."""
    ddp = [e for e in entries if e.get("runtime") == DDP_RUNTIME and isinstance(e.get("world_size"), int)]
    if not ddp:
        return []
    out = ["## Data-parallel training (DDP, launched by torchrun)", ""]
    groups = sorted({(e["device"], e.get("backend", "?")) for e in ddp})
    for device, backend in groups:
        here = sorted((e for e in ddp if e["device"] == device and e.get("backend", "?") == backend),
                      key=lambda e: (int(e["batch_size"]), int(e["world_size"])))
        out += [f"On `{device}` with {backend}:", ""]
        header = ["N", "world size", "epoch time ± IQR", "scaling efficiency", "all-reduce (share)",
                  "isolated all-reduce", "ranks×threads on CPUs", "parity", "note"]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in _row(e)) + " |" for e in here]
        out.append("")
    shared = [e for e in ddp if e.get("ranks_share_cores")]
    if shared:
        cpus = shared[0].get("host_cpus", "?")
        out += [f"> **Workers share cores.** This host gives the ranks {cpus} CPU(s); at world size "
                f"{', '.join(sorted({str(e['world_size']) for e in shared}, key=int))} every CPU holds a "
                "rank, and gloo's threads, torchrun and anything else on the host compete with them. "
                "Those epoch times measure that contention as much as data-parallel scaling; on such "
                "a host an efficiency below 1 is expected and is not the all-reduce's cost alone.", ""]
    return out + [SCALING_NOTES, ""]
