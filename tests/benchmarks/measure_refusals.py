"""How fast, and in how much memory, each hostile export folder is refused (issue 24: within 2 s, under 500 MB).

Each case is a real export with one thing changed and manifest.json re-hashed (the attacker hands
over both), built with the test suite's own helpers. Each refusal runs as its own
`python -m bench verify|predict|bench --export-dir DIR` process, as a user would run it; os.wait4 gives
that process's own peak RSS and CPU time. Wall time depends on the machine's load (printed), CPU
time much less. Every refusal must be exit 2 with exactly one `error:` line.

    nice -n 19 .venv/bin/python tests/benchmarks/measure_refusals.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

COMMANDS = {"verify": ["verify"], "verify-onnx": ["verify", "--trust-only", "onnx"], "predict": ["predict", "1"],
            "bench": ["bench", "--quick"]}
PROGRAM_CASES = ("torchscript while True", "pt2 pickled weights")  # --trust-only onnx loads neither: exit 0


def _graph(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        from tests.test_hostile_onnx import hostile_graphs

        (d / "model.onnx").write_bytes(hostile_graphs()[name][0].SerializeToString())
        _rehash(d)
    return make


def _rehash(d: Path) -> None:
    from tests.hostile import rehash

    rehash(d)


def _sparse(d: Path) -> None:
    with open(d / "model.onnx", "r+b") as f:  # 1.9 GB to a reader, no disk used
        f.truncate(1_900_000_000)


def _listed_3000(d: Path) -> None:
    manifest = json.loads((d / "manifest.json").read_text())
    entry = next(e for e in manifest["artifacts"] if e["format"] == "onnx")
    manifest["artifacts"] += [dict(entry, format="exported_program")] * 3000
    (d / "manifest.json").write_text(json.dumps(manifest))


def _torchscript_loop(d: Path) -> None:
    def edit(name: str, data: bytes) -> bytes:  # as tests/test_hostile_onnx.py's loop
        if name.endswith("linreg/models.py"):
            return data.replace(b"    weights = self.weights\n", b"    while True:\n      weights = self.weights\n")
        return data
    from tests.hostile import rewrite_pt2

    rewrite_pt2(d / "model.torchscript.pt", edit)
    _rehash(d)


GRAPHS = ("broadcast", "constant_of_shape", "custom", "loop", "reshape", "shadowed_constant", "two_values")
CASES: dict[str, Callable[[Path], None]] = {
    **{f"onnx {name}": _graph(name) for name in GRAPHS},
    "onnx external data in a Constant": lambda d: _sidecar(d),
    "onnx sparse 1.9 GB file": _sparse,
    "manifest lists an artifact 3,000 times": _listed_3000,
    "stray file no artifact names": lambda d: (d / "w.bin").write_bytes(b"\0" * 4),
    "torchscript while True": _torchscript_loop,
    "pt2 pickled weights": lambda d: _pickled_pt2(d),
}


def _sidecar(d: Path) -> None:
    from tests.test_hostile_onnx import constant_from_sidecar

    constant_from_sidecar(d, 1000.0)


def _pickled_pt2(d: Path) -> None:
    from tests.hostile import make_pickled_weights_pt2

    make_pickled_weights_pt2(d, d.parent / "marker")


def build(root: Path) -> None:
    """In a separate process (torch is imported here, never in the measuring one): ROOT/case<i>/export."""
    from export.exporters import export_all
    from linreg.checkpoint import save_checkpoint
    from linreg.train import TrainConfig, train
    from tests.helpers import copy_export

    base = root / "ckpt"
    base.mkdir()
    save_checkpoint(train(TrainConfig(device="cpu", epochs=10)).model, base / "model.pth")
    export_all(base / "model.pth", base / "export")
    for i, make in enumerate(CASES.values()):
        make(copy_export(base / "export", root / f"case{i}"))


def run_once(argv: list[str], checkout: Path = ROOT) -> tuple[float, float, float, int, list[str]]:
    """(wall s, CPU s, peak RSS MB, exit code, stderr lines) of one refusal in a fresh process."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:  # `python -m bench` in `checkout` runs that checkout's bench
        proc = subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=checkout, stdout=subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        err.seek(0)
        lines = [line for line in err.read().decode(errors="replace").splitlines() if line.strip()]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case and command (the median is shown)")
    parser.add_argument("--checkout", type=Path, default=ROOT,
                        help="the checkout whose bench is measured (default this one; another: before/after)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child that builds the folders
    args = parser.parse_args(argv)
    if args.build:
        build(args.build)
        return 0
    # This process stays small: Linux carries a parent's peak RSS into a child's ru_maxrss (fork, exec).
    bad = 0
    with tempfile.TemporaryDirectory(prefix="linreg-refusals-") as tmp:
        subprocess.run([sys.executable, __file__, "--build", tmp], check=True, cwd=ROOT)
        print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {os.getloadavg()[0]:.1f} at start; "
              f"median of {args.repeats} fresh processes per row; one error line and exit 2 required; "
              f"this measuring process's own peak RSS {_own_rss_mb():.0f} MB (a floor under each row's); "
              f"checkout {args.checkout}")
        print(f"{'case':40} {'command':12} {'wall s':>7} {'cpu s':>6} {'RSS MB':>7}  refusal")
        for i, name in enumerate(CASES):
            folder = Path(tmp) / f"case{i}" / "export"
            for label, command in COMMANDS.items():
                if label == "verify-onnx" and name in PROGRAM_CASES:
                    continue  # not a refusal: --trust-only onnx loads no program, by design
                runs = [run_once([command[0], "--export-dir", str(folder), *command[1:]], args.checkout)
                        for _ in range(args.repeats)]
                wall, cpu, rss = (statistics.median(r[k] for r in runs) for k in range(3))
                ok = all(r[3] == 2 and len(r[4]) == 1 and r[4][0].startswith("error: ") for r in runs)
                bad += not ok
                said = runs[0][4][0].replace(str(folder), "DIR")[:70] if runs[0][4] else f"exit {runs[0][3]}"
                print(f"{name:40} {label:12} {wall:7.2f} {cpu:6.2f} {rss:7.0f}  {'' if ok else 'NOT ONE LINE: '}{said}",
                      flush=True)
        print(f"# load average {os.getloadavg()[0]:.1f} at the end; {bad} rows without exactly one error line")
    return 1 if bad else 0


def _own_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
