"""Same-job comparison: this tree against a git revision, measured interleaved in one job.

Why: on this kind of machine two CI jobs (or two processes) differ by 26% and more, while
alternating blocks of 0.5 s inside one job agree within about 2% (../shared/METHOD.md). So the
baseline revision is checked out into a temporary `git worktree`, and two long-lived worker
processes (one per tree, each importing its own `linreg`/`export` through PYTHONPATH) time the
same small workloads in alternating blocks, in ABBA order so drift cancels. The per-block medians
become two results.json documents that go through the same statistics and gate as `compare`.

This file is also the driver that runs inside each worker. The driver half (everything below
"driver") imports only the standard library at the top, then torch/numpy/linreg of the tree it
measures, so it works against old revisions that have no `bench` at all: the orchestrator copies
this file into a temporary folder and runs it from there.

Testing hook (driver only, never product code): LINREG_INTERLEAVE_INJECT_SLOWDOWN=0.10 makes the
worker that has it spin for 10% longer after each timed chunk, inside the timed region. The
orchestrator sets it on the candidate only, when asked (bench/fpr.py uses it).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INJECT_ENV = "LINREG_INTERLEAVE_INJECT_SLOWDOWN"
# Big-array workloads otherwise measure the allocator (page faults), differently per process.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": "268435456", "MALLOC_TRIM_THRESHOLD_": "268435456"}

# name -> (phase, runtime, device, batch_size): the fixed set from the issue.
WORKLOADS: dict[str, tuple[str, str, str, int]] = {
    "train_eager_40": ("train_epoch", "eager", "cpu", 40),
    "train_eager_1e6": ("train_epoch", "eager", "cpu", 1_000_000),
    "infer_eager_1": ("inference", "eager", "cpu", 1),
    "infer_eager_1e6": ("inference", "eager", "cpu", 1_000_000),
    "infer_ort_1": ("inference", "onnxruntime", "cpu", 1),
}


# ============================================================== orchestrator

@dataclass(frozen=True)
class InterleaveConfig:
    rounds: int = 10              # alternating rounds; 10 per side lets U reach p ~ 1e-5
    block_s: float = 0.5          # one timed block; METHOD.md: 0.5 s blocks pair within +-2%
    threads: int = 1              # torch intra-op threads in both workers (results depend on it)
    workloads: tuple[str, ...] | None = None  # subset of WORKLOADS; None: all
    warmup_s: float = 0.3         # per workload and worker, before the first block
    inject_slowdown: float = 0.0  # testing only: candidate spins this fraction longer per chunk

    def __post_init__(self) -> None:
        from linreg.errors import LinregError

        if self.rounds < 2:
            raise LinregError(f"--rounds must be >= 2, got {self.rounds}")
        if not 0.001 <= self.block_s <= 60:
            raise LinregError(f"--block-s must be in [0.001, 60], got {self.block_s}")
        if self.threads < 1:
            raise LinregError(f"--threads must be >= 1, got {self.threads}")
        unknown = [w for w in (self.workloads or ()) if w not in WORKLOADS]
        if unknown:
            raise LinregError(f"unknown workload {unknown[0]!r} (choose from {', '.join(WORKLOADS)})")
        if not 0.0 <= self.inject_slowdown < 10.0:
            raise LinregError(f"inject_slowdown must be in [0, 10), got {self.inject_slowdown}")

    @property
    def names(self) -> tuple[str, ...]:
        return self.workloads or tuple(WORKLOADS)


def _git(repo: Path, *args: str) -> str:
    from linreg.errors import LinregError

    try:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LinregError(f"git {' '.join(args)} failed ({exc})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise LinregError(f"git {' '.join(args)} failed ({last})")
    return done.stdout.strip()


def repo_root() -> Path:
    """The checkout holding this bench package: the candidate tree."""
    return Path(_git(Path(__file__).resolve().parent, "rev-parse", "--show-toplevel"))


class Worker:
    """One driver process bound to one source tree; JSON lines over its stdin/stdout."""

    def __init__(self, driver: Path, tree: Path, threads: int, inject: float, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", INJECT_ENV)}
        env.update(ALLOCATOR_ENV)
        env.update({"PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads), "PYTHONHASHSEED": "0"})
        if inject:
            env[INJECT_ENV] = repr(inject)
        self.tree = tree
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(driver), str(tree), str(threads)],
            cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, bufsize=1,
        )
        self.log_path = log

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        from linreg.errors import LinregError

        try:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            self._log.flush()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise LinregError(f"benchmark worker for {self.tree} died ({' | '.join(tail) or 'no output'})")
        reply = json.loads(line)
        if "error" in reply:
            raise LinregError(f"benchmark worker for {self.tree}: {reply['error']}")
        return reply

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - cleanup must not mask the real error
            self.proc.kill()
            self.proc.wait()
        finally:
            self._log.close()


def measure_interleaved(
    base_tree: Path, new_tree: Path, config: InterleaveConfig, work_dir: Path,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time both trees in alternating blocks; return (base, new) results.json documents."""
    driver = work_dir / "linreg_interleave_driver.py"
    shutil.copyfile(Path(__file__).resolve(), driver)  # its folder holds nothing else to import
    sides = {"base": base_tree, "new": new_tree}
    workers: dict[str, Worker] = {}
    try:
        for side, tree in sides.items():
            inject = config.inject_slowdown if side == "new" else 0.0
            workers[side] = Worker(driver, tree, config.threads, inject, work_dir / f"{side}.log")
        setup = {side: w.ask({"cmd": "setup", "workloads": list(config.names),
                              "warmup_s": config.warmup_s, "work_dir": str(work_dir / side)})
                 for side, w in workers.items()}
        samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in config.names} for s in sides}
        faults: dict[str, dict[str, list[float]]] = {s: {n: [] for n in config.names} for s in sides}
        runnable = [n for n in config.names
                    if all(n not in setup[s]["skipped"] for s in sides)]
        total = config.rounds * len(runnable)
        done = 0
        for r in range(config.rounds):
            for i, name in enumerate(runnable):
                order = ("base", "new") if (r + i) % 2 == 0 else ("new", "base")  # ABBA
                for side in order:
                    reply = workers[side].ask({"cmd": "measure", "workload": name, "block_s": config.block_s})
                    samples[side][name].append(reply["time_s_per_call"])
                    faults[side][name].append(reply["minor_faults_per_call"])
                done += 1
                if progress is not None:
                    progress(done, total)
    finally:
        for w in workers.values():
            w.close()
    return tuple(  # type: ignore[return-value]
        _results_doc(side, sides[side], setup[side], samples[side], faults[side], config)
        for side in ("base", "new")
    )


def _results_doc(side: str, tree: Path, setup: dict[str, Any], samples: dict[str, list[float]],
                 faults: dict[str, list[float]], config: InterleaveConfig) -> dict[str, Any]:
    from bench.measurement import Measurement, Spec
    from bench.results import build_results

    measurements = []
    for name in config.names:
        spec = Spec(*WORKLOADS[name])
        reason = setup["skipped"].get(name)
        if reason is None and not samples[name]:
            reason = "skipped because the other side could not run it"
        if reason is not None:
            measurements.append(Measurement(spec, skip_reason=reason))
            continue
        f = sorted(faults[name])
        measurements.append(Measurement(
            spec, times_s=tuple(samples[name]), calls_per_sample=int(setup["calls_per_chunk"][name]),
            extra={"interleaved": True, "block_s": config.block_s,
                   "minor_faults_per_call": f[len(f) // 2]},
        ))
    env = dict(setup["environment"])
    env["git"] = {"commit": _git(tree, "rev-parse", "HEAD"),
                  "dirty": bool(_git(tree, "status", "--porcelain", "--untracked-files=no"))}
    env["tree"] = str(tree)
    cfg = {"mode": "interleaved", "side": side, "rounds": config.rounds, "block_s": config.block_s,
           "threads": config.threads, "workloads": list(config.names),
           "inject_slowdown": config.inject_slowdown if side == "new" else 0.0}
    return build_results(env, cfg, {}, measurements)


def compare_revision(
    base_rev: str, config: InterleaveConfig, gate: Any, save_dir: str | None = None,
    resamples: int = 2000, quiet: bool = False,
) -> Any:
    """Check out base_rev into a temporary worktree, measure it against this tree, compare."""
    from bench.compare import compare_files, results_bench_file
    from linreg.files import write_json_atomic

    root = repo_root()
    from linreg.errors import LinregError

    try:
        sha = _git(root, "rev-parse", "--verify", "--quiet", f"{base_rev}^{{commit}}")
    except LinregError:
        raise LinregError(f"--rev {base_rev!r} is not a commit of {root}") from None
    work_dir = Path(tempfile.mkdtemp(prefix="linreg-interleave-"))
    base_tree = work_dir / "base"
    added = False
    try:
        _git(root, "worktree", "add", "--detach", "--quiet", str(base_tree), sha)
        added = True
        progress = None if quiet else _progress
        base_doc, new_doc = measure_interleaved(base_tree, root, config, work_dir, progress)
        if not quiet:
            sys.stderr.write("\n")
    finally:
        if added:
            try:
                _git(root, "worktree", "remove", "--force", str(base_tree))
            except Exception:  # noqa: BLE001 - fall back to deleting it and pruning
                pass
        shutil.rmtree(work_dir, ignore_errors=True)
        try:
            _git(root, "worktree", "prune")
        except Exception:  # noqa: BLE001
            pass
    if save_dir:
        write_json_atomic(Path(save_dir) / "base.json", base_doc)
        write_json_atomic(Path(save_dir) / "new.json", new_doc)
    base_name = f"{base_rev}, interleaved"
    new_name = "working tree" + (" with uncommitted changes" if new_doc["environment"]["git"]["dirty"]
                                 else "") + ", interleaved"
    comparison = compare_files(results_bench_file(base_doc, base_name),
                               results_bench_file(new_doc, new_name), gate, resamples)
    return comparison


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\rinterleaved blocks: {done}/{total} rounds x workloads")
    sys.stderr.flush()


# ============================================================== driver (runs inside each worker)

def _strip_editable_finders() -> None:
    """Drop setuptools' editable-install finders so `linreg` comes from PYTHONPATH's tree only."""
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)
                        and "_EditableFinder" not in type(f).__name__
                        and "editable" not in getattr(f, "__module__", "")]


def _build_workload(name: str, tree: Path, work_dir: Path) -> Any:
    """A zero-argument callable for one workload, built from the tree's own linreg/export."""
    import torch

    phase, runtime, _device, batch = WORKLOADS[name]
    from linreg import models

    torch.manual_seed(42)
    model = models.LinearRegressionModel()
    if phase == "train_epoch":
        from linreg import data as ldata

        if batch == 40:
            X, y = ldata.make_linear_data()
            X, y = X[:40], y[:40]
        elif hasattr(ldata, "make_linear_samples"):
            X, y = ldata.make_linear_samples(batch)
        else:
            X = torch.arange(batch, dtype=torch.float32).unsqueeze(1) / batch
            y = 0.7 * X + 0.3
        loss_fn = torch.nn.L1Loss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        try:
            from linreg.train import train_epoch
        except ImportError:
            def train_epoch(model, loss_fn, optimizer, X, y):  # type: ignore[no-redef]
                model.train()
                loss = loss_fn(model(X), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                return loss
        return lambda: train_epoch(model, loss_fn, optimizer, X, y)
    x = torch.linspace(0.0, 1.0, batch, dtype=torch.float32).unsqueeze(1)
    if runtime == "eager":
        model.eval()

        def infer() -> Any:
            with torch.no_grad():
                return model(x)
        return infer
    if runtime == "onnxruntime":
        try:
            from export import loaders
            from linreg.checkpoint import save_checkpoint
        except ImportError as exc:
            raise LookupError(f"this tree has no export loaders ({exc})") from None
        for module in (loaders,):
            if not str(Path(module.__file__).resolve()).startswith(str(tree.resolve()) + os.sep):
                raise LookupError("export.loaders comes from another tree")
        if not (hasattr(loaders, "export_all") and hasattr(loaders, "make_ort_session")):
            raise LookupError("this tree's export.loaders has no export_all/make_ort_session")
        work_dir.mkdir(parents=True, exist_ok=True)
        ckpt = work_dir / "model.pth"
        save_checkpoint(model, ckpt)
        try:
            manifest = loaders.export_all(ckpt, work_dir / "export", verify=False)
        except TypeError:
            manifest = loaders.export_all(ckpt, work_dir / "export")
        onnx_path = next(work_dir / "export" / a["path"] for a in manifest["artifacts"]
                         if a["format"] == "onnx")
        session = loaders.make_ort_session(onnx_path, "cpu", 1)
        input_name = session.get_inputs()[0].name
        feed = {input_name: x.numpy()}
        return lambda: session.run(None, feed)
    raise LookupError(f"no driver for runtime {runtime!r}")


def _time_chunk(fn: Any, calls: int, inject: float) -> float:
    """Seconds for `calls` calls; with `inject`, spin inside the timed region (testing hook)."""
    perf = time.perf_counter
    t0 = perf()
    for _ in range(calls):
        fn()
    t1 = perf()
    if inject:
        target = t0 + (t1 - t0) * (1.0 + inject)
        while perf() < target:
            pass
        t1 = perf()
    return t1 - t0


def _worker_main(argv: list[str]) -> int:
    tree, threads = Path(argv[1]), int(argv[2])
    _strip_editable_finders()
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    import resource

    import torch

    torch.set_num_threads(threads)
    import linreg

    linreg_file = str(Path(linreg.__file__).resolve())
    inject = float(os.environ.get(INJECT_ENV, "0") or 0)
    fns: dict[str, Any] = {}
    calls: dict[str, int] = {}
    # The protocol owns the real stdout; anything else printed (an exporter's progress lines, C
    # libraries) goes to stderr, which the orchestrator logs.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "quit":
                return 0
            if req["cmd"] == "setup":
                if not linreg_file.startswith(str(tree.resolve()) + os.sep):
                    raise RuntimeError(f"linreg imported from {linreg_file}, not from {tree}")
                skipped: dict[str, str] = {}
                for name in req["workloads"]:
                    try:
                        fn = _build_workload(name, tree, Path(req["work_dir"]) / name)
                        fn()
                    except Exception as exc:  # noqa: BLE001 - reported as a skip, per workload
                        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                        skipped[name] = f"{type(exc).__name__}: {text}"
                        continue
                    # Calibrate chunks to >= 1 ms so perf_counter's ~50 ns is noise, then warm up.
                    n = 1
                    while _time_chunk(fn, n, 0.0) < 1e-3 and n < 1 << 20:
                        n *= 2
                    end = time.perf_counter() + req["warmup_s"]
                    while time.perf_counter() < end:
                        _time_chunk(fn, n, 0.0)
                    fns[name], calls[name] = fn, n
                versions: dict[str, Any] = {"torch": torch.__version__}
                for mod in ("numpy", "onnxruntime", "onnx"):
                    try:
                        versions[mod] = __import__(mod).__version__
                    except Exception:  # noqa: BLE001
                        versions[mod] = None
                import platform

                cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                            if ln.startswith("model name")), platform.processor()) \
                    if os.path.exists("/proc/cpuinfo") else platform.processor()
                env = {"cpu_model": cpu, "cpu_count": len(os.sched_getaffinity(0))
                       if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                       "versions": {**versions, "python": platform.python_version()},
                       "threads": {"torch": torch.get_num_threads()},
                       "allocator": {k: os.environ.get(k) for k in sorted(ALLOCATOR_ENV)},
                       "linreg_file": linreg_file}
                reply: dict[str, Any] = {"skipped": skipped, "calls_per_chunk": calls, "environment": env}
            elif req["cmd"] == "measure":
                fn, n = fns[req["workload"]], calls[req["workload"]]
                per_call: list[float] = []
                flt0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                end = time.perf_counter() + req["block_s"]
                while True:
                    per_call.append(_time_chunk(fn, n, inject) / n)
                    if time.perf_counter() >= end and len(per_call) >= 3:
                        break
                flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - flt0
                per_call.sort()
                mid = len(per_call) // 2
                median = per_call[mid] if len(per_call) % 2 else (per_call[mid - 1] + per_call[mid]) / 2
                reply = {"time_s_per_call": median, "chunks": len(per_call),
                         "minor_faults_per_call": flt / (len(per_call) * n)}
            else:
                reply = {"error": f"unknown command {req['cmd']!r}"}
        except Exception as exc:  # noqa: BLE001 - the orchestrator turns it into one error line
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv))
