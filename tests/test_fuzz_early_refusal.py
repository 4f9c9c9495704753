"""The CLI's early admission (bench/cli.py _export_dir_request) reads argv exactly as argparse does.

It runs before the parser exists (so before torch is imported): it must never raise, and whenever
it names a folder, argparse must name the same one, with the same choice of checking programs.
Otherwise it could check one folder and let the command load another. Profiles: tests/fuzz_profiles.py.
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from bench.cli import _export_dir_request, build_parser
from export.manifest import FORMATS
from tests import fuzz_profiles  # noqa: F401 - registers and loads the profile

TOKENS = st.sampled_from(["--export-dir", "--trust-only", "--checkpoint", "--runtime", "onnxruntime",
                          "--run-unchecked-onnx", "onnx", "torchscript", "exported_program", "1", "-2.5",
                          "d1", "d2", "--export-dir=d3", "--", "-h", "--device", "cpu"])
NOISE = st.tuples(st.sampled_from(["verify", "predict", "bench", "compare"]), st.lists(TOKENS, max_size=10))


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, list[str]]:
    """verify/predict/bench/loadgen with their real options in any order (and sometimes a stray token)."""
    command = draw(st.sampled_from(["verify", "predict", "bench", "loadgen"]))
    folder = draw(st.sampled_from(["d1", "d2", "-d", "a b", "d=1"]))
    groups = [draw(st.sampled_from([["--export-dir", folder], [f"--export-dir={folder}"]]))]
    groups += draw(st.lists(st.sampled_from([["--export-dir", "d2"], ["--checkpoint", "c.pth"],
                                             ["--run-unchecked-onnx"], ["--unchecked-time-s", "5"]]), max_size=3))
    if command == "verify" and draw(st.booleans()):
        groups.append(["--trust-only", *draw(st.lists(st.sampled_from(FORMATS), min_size=1, max_size=4))])
    if command == "bench":
        groups += draw(st.lists(st.sampled_from([["--quick"], ["--runtimes", "eager", "onnxruntime"],
                                                 ["--out", "o"], ["--batch-sizes", "1", "10"]]), max_size=3))
    if command == "loadgen":
        groups += [["--runtime", "onnxruntime"], ["--scenario", "offline"], ["--out", "o"]]
    if command == "predict":
        groups += [["1", "-2.5"], *draw(st.lists(st.sampled_from([["--runtime", "onnxruntime"], ["--device", "cpu"]]),
                                                 max_size=2))]
    order = draw(st.permutations(range(len(groups))))
    tokens = [t for i in order for t in groups[i]]
    if draw(st.integers(0, 9)) == 0:
        tokens.insert(draw(st.integers(0, len(tokens))), draw(TOKENS))
    return command, tokens


ARGV = st.one_of(NOISE, well_formed())
PARSER = build_parser()


@given(ARGV)
def test_the_early_reading_agrees_with_argparse(argv: tuple[str, list[str]]) -> None:
    tokens = [argv[0], *argv[1]]
    request = _export_dir_request(tokens)
    if request is None:
        event("not an export-dir command: argparse alone")
        return
    try:
        args = PARSER.parse_args(tokens)
    except SystemExit:
        event("read early, then a usage error")
        return  # a usage error: one line either way, nothing loaded
    event("read early and by argparse: compared")
    assert args.export_dir == Path(request[0])
    trust = getattr(args, "trust_only", None)
    assert request[1] == (trust is None or set(FORMATS) <= set(trust))
