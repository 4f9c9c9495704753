"""Every option has a sane upper bound (one error line, never a traceback or a run that never
ends), and a closed stdout ends a command quietly."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import one_error_line

from bench.cli import main
from bench.scenarios.peak import search_peak
from bench.scenarios.settings import MAX_QPS, MIN_QPS, LoadgenConfig

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"
HUGE = str(10**30)


@pytest.mark.parametrize("option, word", [("--n", "memory"), ("--threads", "threads"), ("--epochs", "epochs")])
def test_train_bounds_its_options(option: str, word: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", option, HUGE, "--out", str(tmp_path / "o")]) == 2
    one_error_line(capsys, word)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, word", [
    (["--scenario", "server", "--target-qps", "1e308"], "target_qps"),
    (["--scenario", "server", "--target-qps", "1e-320"], "target_qps"),
    (["--scenario", "single-stream", "--duration-s", "1e308"], "duration_s"),
    (["--scenario", "server", "--target-qps", "900000", "--duration-s", "1000"], "queries"),
    (["--scenario", "single-stream", "--threads", HUGE], "threads"),
])
def test_loadgen_bounds_its_options(argv: list[str], word: str, exported: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loadgen", "--export-dir", str(exported), "--runtime", "eager", *argv,
                 "--out", str(tmp_path / "o")]) == 2
    one_error_line(capsys, word)


def test_the_peak_search_stays_within_the_bounds() -> None:
    offered: list[float] = []

    def probe(config: LoadgenConfig, out: Path) -> dict:
        offered.append(config.target_qps)
        return {"valid": config.target_qps < 5.0, "reasons": []}
    config = LoadgenConfig("server", "eager", target_qps=1000.0, latency_bound_ms=1.0)
    search_peak(config, Path("/nonexistent"), probe, start_qps=1000.0)
    assert offered and all(MIN_QPS <= q <= MAX_QPS for q in offered)
    offered.clear()
    always = lambda c, o: {"valid": True, "reasons": []} if not offered.append(c.target_qps) else {}  # noqa: E731
    search_peak(config, Path("/nonexistent"), always, start_qps=3e5)
    assert offered and max(offered) <= MAX_QPS


def test_a_closed_stdout_ends_quietly() -> None:
    """`compare A B | head -0`: no traceback, no error line; 141 like a tool killed by SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "compare", str(GOLDEN), str(GOLDEN)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "error" not in err.lower(), err


def test_sweep_combinations_by_index_match_the_product_and_the_old_draws() -> None:
    import itertools
    import random

    from bench.experiments.spec import combination, parse_spec, trial_configs

    spec = parse_spec("[grid]\nlr = [0.001, 0.01, 0.1]\nseed = [1, 2, 3]\nmodel = ['parameter', 'linear']\n"
                      "[fixed]\nsamples = 5\nsample_seed = 7\n")
    combos = list(itertools.product(*spec.grid.values()))
    assert [combination(spec.grid, i) for i in range(len(combos))] == combos
    picked = sorted(random.Random(7).sample(range(len(combos)), 5))  # how sweeps drew before
    assert [(c["lr"], c["seed"], c["model"]) for c in trial_configs(spec)] == [combos[i] for i in picked]


def test_a_huge_grid_is_sampled_without_being_built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.experiments.spec import parse_spec, trial_configs

    values = ", ".join(map(str, range(1, 1001)))
    text = f"[grid]\nseed = [{values}]\nepochs = [{values}]\nthreads = [1, 2, 3]\n[fixed]\n"
    spec = parse_spec(text + "samples = 2\n")  # 3x10^6 combinations; 10^9 more would be no slower
    assert spec.grid_size() == 3_000_000 and len(trial_configs(spec)) == 2
    config = tmp_path / "huge.toml"
    config.write_text(text)
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "o"), "--yes"]) == 2
    one_error_line(capsys, "3000000 trials", "100000")
    assert not (tmp_path / "o").exists()


def test_ddp_world_sizes_are_bounded_by_cores_and_memory(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from bench.distributed.command import check_host_capacity
    from bench.distributed.config import DdpConfig, DdpInputError

    with pytest.raises(DdpInputError, match="over 4 per core"):
        check_host_capacity(DdpConfig(world_sizes=(1, 256)), cores=2, memory_bytes=1 << 40)
    with pytest.raises(DdpInputError, match="ranks need about"):
        check_host_capacity(DdpConfig(world_sizes=(8,)), cores=64, memory_bytes=1 << 30)
    check_host_capacity(DdpConfig(world_sizes=(1, 2, 8)), cores=2, memory_bytes=16 << 30)
    assert main(["ddp", "--world-sizes", "256", "--out", str(tmp_path / "o")]) == 2
    one_error_line(capsys, "world size 256")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option", ["--processes", "--threads"])
def test_bench_bounds_processes_and_threads(option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--smoke", "--out", str(tmp_path / "o"), "--export-dir", str(tmp_path),
                 option, HUGE]) == 2
    one_error_line(capsys, option, "must be <=", "31-digit")
    assert not (tmp_path / "o").exists()


def test_names_from_files_are_escaped_before_they_are_printed(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A runtime named with terminal escapes (ESC [2J clears the screen) is shown as \\x1b..."""
    import json

    doc = json.loads(GOLDEN.read_text())
    doc["measurements"][0]["runtime"] = "eager\x1b[2J\x9b"
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(doc))
    for argv in (["compare", str(hostile), str(hostile)], ["report", str(hostile)]):
        main(argv)
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and "\x9b" not in out + err
        assert "\\x1b[2J" in out, out[:500]


def test_compare_of_values_near_the_float_limit_prints_no_numpy_warning(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    doc = json.loads(GOLDEN.read_text())
    for m in doc["measurements"]:
        if "times_s" in m:
            m["times_s"] = [1e308] * len(m["times_s"])
    big = tmp_path / "big.json"
    big.write_text(json.dumps(doc))
    assert main(["compare", str(GOLDEN), str(big)]) == 1  # infinitely slower: a regression
    assert "Warning" not in capsys.readouterr().err
