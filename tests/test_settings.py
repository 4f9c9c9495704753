"""`--config FILE.toml` for bench/run: precedence, bad input, the [timing] table."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.commands import suite_config_from_args
from tests.helpers import bench_args

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib


def test_file_sets_options_and_command_line_wins(tmp_path: Path) -> None:
    toml = 'threads = 2\nruntimes = ["eager"]\nquick = true\n[timing]\nmin_total_s = 0.1\n'
    args = bench_args(tmp_path, toml)
    assert (args.threads, args.runtimes, args.quick) == ([2], ["eager"], True)
    config = suite_config_from_args(args)
    assert config.timing.min_total_s == 0.1 and config.threads == (2,)
    assert args.config_file["settings"]["timing"] == {"min_total_s": 0.1}
    args = bench_args(tmp_path, toml, "--threads", "1", "--runtimes", "onnxruntime")
    assert (args.threads, args.runtimes) == ([1], ["onnxruntime"])


@pytest.mark.parametrize("toml, message", [
    ("treads = 2\n", "key treads: unknown key (did you mean 'threads'?)"),
    ('threads = "two"\n', "key threads: expected an integer"),
    ("batch_sizes = [0]\n", "key batch_sizes: "),
    ('devices = ["cpu", 1]\n', "key devices: expected a string, got 1"),
    ('isolation = "thread"\n', "key isolation: 'thread' is not one of runtime, fork, none"),
    ("[timing]\nmin_total = 1\n", "key timing.min_total: unknown key (did you mean 'min_total_s'?)"),
    ("[timing]\nwarmup_calls = 1.5\n", "key timing.warmup_calls: expected a non-negative integer"),
    ("threads = 2\nquick = \n", "not valid TOML: Invalid value (at line 2, column 9)"),
])
def test_bad_config_is_one_error_naming_file_and_key(tmp_path: Path, capsys, toml: str,
                                                      message: str) -> None:
    cfg = tmp_path / "bench.toml"
    cfg.write_text(toml)
    code = main(["bench", "--out", str(tmp_path / "o"), "--export-dir", str(tmp_path), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {cfg}: ")
    assert message in err
    assert not (tmp_path / "o").exists()


def test_config_show_round_trips_through_tomllib_and_config(tmp_path: Path, capsys) -> None:
    assert main(["config", "--show"]) == 0
    text = capsys.readouterr().out
    assert "# intra-op threads for torch AND onnxruntime" in text
    data = tomllib.loads(text)  # as printed: the defaults, so the same suite as no file at all
    assert data["quick"] is False and data["timing"] == {}
    args = bench_args(tmp_path, text)
    default = build_parser().parse_args(["bench", "--out", "o", "--export-dir", "e"])
    assert suite_config_from_args(args) == suite_config_from_args(default)
    assert args.config_file["settings"] == data
    # every commented-out key, uncommented, is accepted too (the values the full run uses)
    opened = re.sub(r"^# ([a-z_]+ = )", r"\1", text, flags=re.M).replace('history = "DIR"', 'history = "h"')
    args = bench_args(tmp_path, opened)
    assert args.batch_sizes == [1, 10, 1000, 100000, 1000000, 10000000]
    assert suite_config_from_args(args).timing.latency_calls == 20000


def test_a_timing_value_timingconfig_refuses_is_one_error_line(tmp_path, capsys):
    from bench.cli import main

    cfg = tmp_path / "bench.toml"
    cfg.write_text("[timing]\nrounds = 0\n")
    assert main(["bench", "--config", str(cfg), "--checkpoint", str(tmp_path / "none.pth"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "key timing: rounds must be >= 1" in err and "Traceback" not in err
