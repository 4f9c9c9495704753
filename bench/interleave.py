"""Same-job comparison: this tree against a git revision, measured interleaved in one job.

Why: on this kind of machine two CI jobs (or two processes) differ by 26% and more, while
alternating blocks of 0.5 s inside one job agree within about 2% (../shared/METHOD.md). So the
baseline revision is checked out into a temporary `git worktree`, and a pair of worker processes
(one per tree, each importing its own `linreg`/`export` through PYTHONPATH) time the same small
workloads in alternating blocks, in ABBA order so drift cancels. Whole processes can also run
1.4-2x slow for their lifetime (METHOD.md), which one long-lived worker per side would turn into a
bias of that side, so the pair is replaced by a fresh one every `restart_every` rounds (2 by
default, alternating which side starts first): a slow process then becomes noise between samples
that the U test sees, not a constant offset. The per-block medians become two results.json
documents that go through the same statistics and gate as `compare`. A candidate that raises in
a workload gets a "failed: ..." record, which the gate counts as a regression.

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
    restart_every: int = 2        # rounds per worker pair: whole-process effects become noise

    def __post_init__(self) -> None:
        from linreg.errors import LinregError

        if self.rounds < 2:
            raise LinregError(f"--rounds must be >= 2, got {self.rounds}")
        if not 0.001 <= self.block_s <= 60:
            raise LinregError(f"--block-s must be in [0.001, 60], got {self.block_s}")
        if self.restart_every < 1:
            raise LinregError(f"--restart-every must be >= 1, got {self.restart_every}")
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


class WorkerFailure(Exception):
    """A worker's reply was an exception (died=False) or the worker process died (died=True)."""

    def __init__(self, message: str, died: bool) -> None:
        super().__init__(message)
        self.message, self.died = message, died


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

    def send(self, request: dict[str, Any]) -> None:
        try:
            assert self.proc.stdin
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # receive() reports the dead worker with its log's last lines

    def receive(self) -> dict[str, Any]:
        """The next reply; WorkerFailure when it is an error or the worker died."""
        try:
            assert self.proc.stdout
            line = self.proc.stdout.readline()
        except OSError:
            line = ""
        if not line:
            self._log.flush()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise WorkerFailure(f"worker died ({' | '.join(tail) or 'no output'})", died=True)
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerFailure(str(reply["error"]), died=False)
        return reply

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.receive()

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
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream and stream.close()
                except OSError:
                    pass
            self._log.close()


def _one_line(text: str) -> str:
    return (str(text).strip().splitlines() or ["?"])[0][:200]


def measure_interleaved(
    base_tree: Path, new_tree: Path, config: InterleaveConfig, work_dir: Path,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Time both trees in alternating blocks; return (base, new) results.json documents.

    A fresh worker pair is started every `config.restart_every` rounds (alternating which side
    starts first), so a process that happens to run slow for its whole life (METHOD.md: 1.4-2x)
    adds noise between samples instead of biasing one side. An exception in a workload, at setup
    or while measuring, is recorded as a failure of that side ("failed: Type: message"), which the
    comparison turns into a regression when it is NEW's; the workload is dropped from later rounds.
    """
    from linreg.errors import LinregError

    driver = work_dir / "linreg_interleave_driver.py"
    shutil.copyfile(Path(__file__).resolve(), driver)  # its folder holds nothing else to import
    sides = {"base": base_tree, "new": new_tree}
    names = list(config.names)
    samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in names} for s in sides}
    faults: dict[str, dict[str, list[float]]] = {s: {n: [] for n in names} for s in sides}
    skipped: dict[str, dict[str, str]] = {s: {} for s in sides}  # setup: absent, or failed
    calls: dict[str, dict[str, int]] = {s: {} for s in sides}
    environment: dict[str, dict[str, Any]] = {}
    runnable = list(names)
    rounds_done = segment = done = 0
    total = config.rounds * len(runnable)

    def fail(side: str, name: str, message: str) -> None:
        skipped[side][name] = f"failed: {_one_line(message)}"
        if name in runnable:
            runnable.remove(name)

    while rounds_done < config.rounds and runnable:
        start_order = ("base", "new") if segment % 2 == 0 else ("new", "base")
        workers: dict[str, Worker] = {}
        try:
            for side in start_order:
                inject = config.inject_slowdown if side == "new" else 0.0
                workers[side] = Worker(driver, sides[side], config.threads, inject,
                                       work_dir / f"{side}.{segment}.log")
            request = {"cmd": "setup", "workloads": list(runnable), "warmup_s": config.warmup_s}
            for side in start_order:  # both set up at once
                workers[side].send({**request, "work_dir": str(work_dir / side / f"seg{segment}")})
            for side in start_order:
                try:
                    setup = workers[side].receive()
                except WorkerFailure as exc:
                    if side == "base" or not exc.died:  # the baseline, or the harness itself
                        raise LinregError(f"benchmark worker for {sides[side]}: {exc.message}") from None
                    for name in list(runnable):  # the candidate cannot even start: all fail
                        fail(side, name, exc.message)
                    continue
                environment.setdefault(side, setup["environment"])
                for name, reason in setup["skipped"].items():
                    if name not in runnable:
                        continue
                    if segment == 0:
                        skipped[side][name] = reason
                        runnable.remove(name)
                    else:  # ran in an earlier worker, not in this one: a failure, not an absence
                        fail(side, name, reason if reason.startswith("failed: ")
                             else f"could not set up in a restarted worker: {reason}")
                for name, n in setup["calls_per_chunk"].items():
                    calls[side].setdefault(name, int(n))
            if segment == 0:
                total = config.rounds * len(runnable)
            died = False
            for r in range(rounds_done, min(rounds_done + config.restart_every, config.rounds)):
                for i, name in enumerate(list(runnable)):
                    order = ("base", "new") if (r + i + segment) % 2 == 0 else ("new", "base")  # ABBA
                    for side in order:
                        try:
                            reply = workers[side].ask(
                                {"cmd": "measure", "workload": name, "block_s": config.block_s})
                        except WorkerFailure as exc:
                            fail(side, name, exc.message)
                            died = exc.died
                            break
                        samples[side][name].append(reply["time_s_per_call"])
                        faults[side][name].append(reply["minor_faults_per_call"])
                    done += 1
                    if progress is not None:
                        progress(done, total)
                    if died:
                        break
                if died:
                    break  # a fresh pair redoes this round
                rounds_done += 1
        finally:
            for w in workers.values():
                w.close()
        segment += 1
    if "base" not in environment:
        raise LinregError(f"benchmark worker for {base_tree}: never started")
    environment.setdefault("new", environment["base"])
    return tuple(  # type: ignore[return-value]
        _results_doc(side, sides[side], environment[side], calls[side], skipped, samples[side],
                     faults[side], config, segment)
        for side in ("base", "new")
    )


def _results_doc(side: str, tree: Path, environment: dict[str, Any], calls: dict[str, int],
                 skipped: dict[str, dict[str, str]], samples: dict[str, list[float]],
                 faults: dict[str, list[float]], config: InterleaveConfig,
                 worker_pairs: int) -> dict[str, Any]:
    from bench.measurement import Measurement, Spec
    from bench.results import build_results

    other = "new" if side == "base" else "base"
    measurements = []
    for name in config.names:
        spec = Spec(*WORKLOADS[name])
        reason = skipped[side].get(name)
        if reason is None and not samples[name]:
            reason = "not measured: the other side could not run it"
        if reason is not None:
            measurements.append(Measurement(spec, skip_reason=reason))
            continue
        f = sorted(faults[name])
        extra = {"interleaved": True, "block_s": config.block_s, "minor_faults_per_call": f[len(f) // 2]}
        if name in skipped[other]:
            extra["other_side"] = skipped[other][name]
        measurements.append(Measurement(
            spec, times_s=tuple(samples[name]), calls_per_sample=int(calls.get(name, 1)), extra=extra,
        ))
    env = dict(environment)
    env["git"] = {"commit": _git(tree, "rev-parse", "HEAD"),
                  "dirty": bool(_git(tree, "status", "--porcelain", "--untracked-files=no"))}
    env["tree"] = str(tree)
    cfg = {"mode": "interleaved", "side": side, "rounds": config.rounds, "block_s": config.block_s,
           "restart_every": config.restart_every, "worker_pairs": worker_pairs,
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
                    except LookupError as exc:  # this tree lacks what the workload needs: absent
                        skipped[name] = (str(exc).strip().splitlines() or ["not available"])[0][:200]
                        continue
                    except Exception as exc:  # noqa: BLE001 - a crash: the orchestrator fails it
                        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                        skipped[name] = f"failed: {type(exc).__name__}: {text}"
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
