"""The orchestrator's side of the interleave driver: one worker process per source tree, and git."""
from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from bench.compare.interleave_driver import ALLOCATOR_ENV, CLOCK_ENV, INJECT_ENV
from linreg.errors import LinregError
from linreg.limits import default_child_memory_gib, limit_memory

REPLY_TIMEOUT_S = 900.0  # one request is a block of seconds; a worker silent this long is hung


def git(repo: Path, *args: str) -> str:
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
    return Path(git(Path(__file__).resolve().parent, "rev-parse", "--show-toplevel"))


@contextlib.contextmanager
def base_worktree(base_rev: str, prefix: str = "linreg-interleave-", repo: Path | None = None,
                  name: str = "base") -> Iterator[tuple[Path, Path]]:
    """(a temporary work folder, BASE_REV checked out in it as a detached git worktree), both
    removed afterwards: what every `compare --rev` measures against, and every commit that
    `history backfill` and `history find` run (`repo`: another repository than this one)."""
    root = repo or repo_root()
    try:
        sha = git(root, "rev-parse", "--verify", "--quiet", f"{base_rev}^{{commit}}")
    except LinregError:
        raise LinregError(f"--rev {base_rev!r} is not a commit of {root}") from None
    work_dir = Path(tempfile.mkdtemp(prefix=prefix))
    base_tree = work_dir / name
    added = False
    try:
        git(root, "worktree", "add", "--detach", "--quiet", str(base_tree), sha)
        added = True
        yield work_dir, base_tree
    finally:
        if added:
            try:
                git(root, "worktree", "remove", "--force", str(base_tree))
            except Exception:  # noqa: BLE001 - fall back to deleting it and pruning
                pass
        shutil.rmtree(work_dir, ignore_errors=True)
        try:
            git(root, "worktree", "prune")
        except Exception:  # noqa: BLE001
            pass


class WorkerFailure(Exception):
    """A worker's reply was an exception (died=False) or the worker process died (died=True)."""

    def __init__(self, message: str, died: bool) -> None:
        super().__init__(message)
        self.message, self.died = message, died


class Worker:
    """One driver process bound to one source tree; JSON lines over its stdin/stdout."""

    def __init__(self, driver: Path, tree: Path, threads: int, inject: float, log: Path,
                 clock: str = "wall") -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", INJECT_ENV)}
        env.update(ALLOCATOR_ENV)
        env.update({"PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads), "PYTHONHASHSEED": "0",
                    CLOCK_ENV: clock})
        if inject:
            env[INJECT_ENV] = repr(inject)
        self.tree = tree
        self._log = log.open("w")
        memory_gib = default_child_memory_gib()  # the driver may be an old tree's: bounded from outside
        self.proc = subprocess.Popen(
            [sys.executable, str(driver), str(tree), str(threads)],
            cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, bufsize=1, preexec_fn=lambda: limit_memory(memory_gib) and None,
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
            ready, _, _ = select.select([self.proc.stdout], [], [], REPLY_TIMEOUT_S)
            if not ready:  # hung: ended here, reported as dead (its log's last lines)
                self.proc.kill()
            line = self.proc.stdout.readline() if ready else ""
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
