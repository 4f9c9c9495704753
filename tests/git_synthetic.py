"""Small git repositories built in a test: commits whose code `history backfill` and `history find` run.

- `fake_bench_repo`: a `bench/__main__.py` that writes a real results.json (no torch: fast), a
  commit before it existed, and a commit whose bench cannot even import;
- `linreg_repo`: this checkout's `linreg` package in 16 commits, one of which makes the model's
  forward do real extra work per call (a pure-Python loop, as the regress plug-in's `python`
  effect does), so an interleaved comparison of two of its commits measures a real slowdown;
- `measuring_repo`: the same, with this checkout's whole measuring code (bench, export, linreg),
  so each commit's own `bench` runs (history find --own-bench).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}

# A commit's whole measuring code: the options it was given, a fresh run id, a results.json.
FAKE_BENCH = '''\
import json, sys, time, uuid
from pathlib import Path
args = sys.argv[1:]
assert args[0] == "bench", args
out = Path(args[args.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
doc = json.loads((Path(__file__).parent / "template.json").read_text())
doc["run_id"] = uuid.uuid4().hex
doc["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
doc["config"]["argv"] = args
(out / "results.json").write_text(json.dumps(doc))
'''
BROKEN_BENCH = "import no_such_module_here\n"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) `files`, commit them all, return the new hash."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def template_results() -> str:
    """A real results.json (the history tests' synthetic runs) for the fake bench to stamp."""
    import random

    from tests.history_synthetic import results_doc

    doc = results_doc("synthetic", "0" * 40, "2026-12-06T10:00:00Z",
                      {("inference", "eager", 1): 7e-6}, random.Random(1))
    doc["environment"].pop("git", None)
    return json.dumps(doc)


def fake_bench_repo(path: Path) -> tuple[Path, list[str]]:
    """[A (no bench), before (no bench), ok, broken, ok]: the hashes, oldest first."""
    repo = new_repo(path)
    template = template_results()
    hashes = [commit(repo, {"README": "a project\n"}, "the start"),
              commit(repo, {"README": "a project, still no benchmarks\n"}, "before the bench"),
              commit(repo, {"bench/__main__.py": FAKE_BENCH, "bench/template.json": template},
                     "the bench arrives"),
              commit(repo, {"bench/__main__.py": BROKEN_BENCH}, "a bench that cannot import"),
              commit(repo, {"bench/__main__.py": FAKE_BENCH}, "the bench mended")]
    return repo, hashes


SLOW_FORWARD = '''
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range({spin}):  # the injected slowdown: real interpreter work on every call
            pass
        return self.weights * x + self.bias
'''


def linreg_repo(path: Path, culprit: int, spin: int, commits: int = 16,
                packages: tuple[str, ...] = ("linreg",)) -> tuple[Path, list[str]]:
    """`commits` commits of this checkout's `packages`; commit `culprit` (1..commits-1) slows the
    model's forward by `spin` loop iterations per call; the others change a note only."""
    repo = new_repo(path)
    for package in packages:
        shutil.copytree(ROOT / package, repo / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    models = (repo / "linreg" / "models.py").read_text()
    plain = "\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        return self.weights * x + self.bias\n"
    assert models.count(plain) == 1, "linreg/models.py changed: update SLOW_FORWARD"
    hashes = [commit(repo, {}, f"{', '.join(packages)}, as this checkout has it")]
    for i in range(1, commits):
        files = {"NOTES": f"commit {i}\n"}
        if i == culprit:
            files["linreg/models.py"] = models.replace(plain, SLOW_FORWARD.format(spin=spin))
        hashes.append(commit(repo, files, f"commit {i}" + (": the slowdown" if i == culprit else "")))
    return repo, hashes


def measuring_repo(path: Path, culprit: int, spin: int, commits: int = 8) -> tuple[Path, list[str]]:
    """linreg_repo with bench and export too: every commit can run its own `bench`."""
    return linreg_repo(path, culprit, spin, commits, packages=("linreg", "export", "bench"))
