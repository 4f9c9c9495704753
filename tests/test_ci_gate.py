"""The CI gate example (.ci/perf-gate.yml) and its instruction-count step (.ci/instructions-gate)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
GATE = ROOT / ".ci" / "instructions-gate"
WORKFLOW = ROOT / ".ci" / "perf-gate.yml"


def _run_lines() -> list[str]:
    """The workflow's `run:` commands, GitHub expressions replaced by a plain revision."""
    lines = re.findall(r"^\s*- run: (.+)$", WORKFLOW.read_text(encoding="utf-8"), re.M)
    return [re.sub(r"\$\{\{[^}]*\}\}", "main", line) for line in lines]


def test_the_workflow_installs_valgrind_and_gates_both_metrics() -> None:
    lines = _run_lines()
    assert any("apt-get install -y valgrind" in line for line in lines)
    assert any(line.startswith(".ci/instructions-gate ") for line in lines)
    assert any("compare --rev" in line for line in lines)
    assert "fetch-depth: 0" in WORKFLOW.read_text(encoding="utf-8")


def test_every_linreg_bench_command_of_the_ci_files_parses() -> None:
    """A renamed flag must fail here, not in a user's CI."""
    commands = [line for line in _run_lines() if "linreg-bench" in line]
    script = GATE.read_text(encoding="utf-8")
    commands += [line.strip() for line in script.splitlines() if "linreg-bench compare" in line]
    assert len(commands) == 2
    for line in commands:
        words = shlex.split(line.split("||")[0].replace('"$base"', "main").replace('"$out"', "o.md"))
        args = words[words.index(next(w for w in words if w.endswith("linreg-bench"))) + 1:]
        parsed = build_parser().parse_args(args)
        assert parsed.rev in ("main", "origin/main")
    assert "--metric instructions" in script


def _gate(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([str(GATE), *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_gate_without_a_revision_is_a_usage_error() -> None:
    done = _gate(path=os.environ["PATH"])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: usage: .ci/instructions-gate BASE_REV [OUT.md]"]


def test_the_gate_without_valgrind_says_how_to_get_it(tmp_path: Path) -> None:
    bash = subprocess.run(["bash", "-c", "command -v bash dirname"], capture_output=True, text=True)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in bash.stdout.split():  # a PATH with bash and dirname but no valgrind
        (tools / Path(tool).name).symlink_to(tool)
    done = _gate("main", path=str(tools))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: valgrind not found: apt-get install valgrind"]
    assert not (ROOT / "perf-instructions.md").exists()


@pytest.mark.slow
def test_the_gate_counts_a_revision_for_real() -> None:
    """Both trees under valgrind (about 5 minutes on 2 vCPUs): see results/instructions/ci-job."""
    import shutil

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind not found: apt-get install valgrind")
    done = subprocess.run([str(GATE), "HEAD", "/tmp/linreg-ci-gate.md"], capture_output=True,
                          text=True, timeout=1800, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "instructions" in done.stdout
