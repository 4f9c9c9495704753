"""A new user's first minutes (issue 22, point 6): typos name the close word, words say the real
reason, and no library chatter. Fast: no subprocess, no measuring."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.runtimes.interference import probe_off_reason
from bench.suite import DEFAULT_PROCESSES, QUICK_COMPILE_SKIP, SuiteConfig
from bench.runtimes.interference import interference_record
from tests.helpers import one_error_line


@pytest.mark.parametrize("argv, close", [
    (["rnu"], "'run'"),                                              # a subcommand
    (["run", "--qiuck", "--out", "OUT"], "'--quick'"),               # an option
    (["bench", "--checkpoint", "m.pth", "--runtimes", "eagr", "--out", "OUT"], "'eager'"),  # a runtime
    (["run", "--isolation", "forkk", "--out", "OUT"], "'fork'"),     # a choice
    (["bench", "--checkpoint", "m.pth", "--variants", "eagr", "--out", "OUT"], "'eager'"),  # a variant
    (["run", "--qiuck"], "'--quick'"),        # before the missing --out, which would hide it
    (["train", "--epocs=5", "--out", "OUT"], "'--epochs'"),
])
def test_a_typo_is_one_error_line_that_names_the_close_word(
        argv: list[str], close: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(tmp_path / a) if a in ("OUT", "m.pth") else a for a in argv]
    assert main(argv) == 2
    one_error_line(capsys, f"did you mean {close}?")
    assert not (tmp_path / "OUT").exists()


def test_an_option_with_no_close_match_is_still_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--zzzzzz", "--out", "x"]) == 2
    assert "did you mean" not in one_error_line(capsys, "unrecognized arguments: --zzzzzz")


def test_config_show_shows_the_process_count_bench_and_run_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--show"]) == 0
    out = capsys.readouterr().out
    assert f"# processes = {DEFAULT_PROCESSES}\n" in out and f"(default {DEFAULT_PROCESSES}" in out


def test_the_probe_says_why_it_is_off() -> None:
    api = SuiteConfig(interference=False)
    assert "--quick" not in interference_record(probe_off_reason(api.compile_skip_reason == QUICK_COMPILE_SKIP), ("onnxruntime",), 1, "none",
                                                None, None)["skipped"]
    quick = SuiteConfig.quick()
    assert interference_record(probe_off_reason(quick.compile_skip_reason == QUICK_COMPILE_SKIP), ("onnxruntime",), 1, "none", None,
                               None)["skipped"] == "not probed (--quick skips it)"


def test_the_ort_reference_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    from bench.engine.reference import _ort_call

    _ort_call()()
    assert capfd.readouterr().err == ""  # ORT warned "Removing initializer 'a'" on every build
