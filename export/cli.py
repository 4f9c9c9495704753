"""`linreg-bench export`, `verify` and `predict`."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from export.errors import ParityError
from export.predict import RUNTIMES
from export.unchecked import DEFAULT_MEMORY_GIB, DEFAULT_TIME_S, MAX_TIME_S, OPTION, UncheckedLimits
from linreg.argtypes import float_within, number
from linreg.errors import LinregError
from linreg.limits import MIN_CHILD_MEMORY_GIB, physical_memory_gib
from linreg.predict import format_predictions, predict_checkpoint
# Any negative float literal Python's float() reads: -3, -2.5, -.5, -1e5, -2.5E-3, -inf, -nan.
NEGATIVE_NUMBER = re.compile(r"^-(?:(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:e[+-]?\d[\d_]*)?|inf(?:inity)?|nan)$",
                             re.IGNORECASE)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add export, verify and predict to the linreg-bench parser."""
    p = subparsers.add_parser("export", help="write TorchScript, ONNX and ExportedProgram artifacts, then verify them")
    p.add_argument("--checkpoint", type=Path, required=True, help="a model.pth state_dict")
    p.add_argument("--out", type=Path, required=True, help="export folder (built beside, then renamed)")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check (not recommended)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("verify", help="re-check an export folder's hashes and parity with its checkpoint")
    p.add_argument("--export-dir", type=Path, required=True, help="the export folder to check")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="where the source checkpoint is now (default: the path in manifest.json)")
    p.add_argument("--trust-only", nargs="+", choices=("onnx", "torchscript", "exported_program"),
                   default=None, metavar="FORMAT",
                   help="load only these formats; `--trust-only onnx` checks a stranger's folder without "
                        "loading any program (TorchScript, ExportedProgram)")
    _add_unchecked(p)
    p.set_defaults(func=cmd_verify)

    p = subparsers.add_parser("predict", help="print predictions for inputs X from a checkpoint or an export folder")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a model.pth state_dict (runtime eager)")
    source.add_argument("--export-dir", type=Path, help="an export folder written by `export`")
    p.add_argument("--runtime", choices=RUNTIMES, default=None,
                   help="default: eager for --checkpoint, onnxruntime for --export-dir")
    p.add_argument("--device", default="cpu", help="device to predict on (cpu, cuda, cuda:N)")
    p.add_argument("x", type=number, nargs="+", metavar="X", help="inputs, one prediction per line each")
    # argparse takes "-1e5" or "-inf" for an unknown option: its matcher knows only -3 and -2.5.
    p._negative_number_matcher = NEGATIVE_NUMBER
    _add_unchecked(p)
    p.set_defaults(func=cmd_predict)


def _add_unchecked(p: argparse.ArgumentParser) -> None:
    """--run-unchecked-onnx and its two limits (export/unchecked.py)."""
    p.add_argument(OPTION, action="store_true",
                   help="run an ONNX graph that fails the exporter-shape checks anyway, in a child process "
                        "under the two limits below (its hash is still checked; external data still refused)")
    p.add_argument("--unchecked-time-s", type=float_within(0.1, MAX_TIME_S), default=DEFAULT_TIME_S,
                   metavar="S", help="wall-clock limit of that child")
    p.add_argument("--unchecked-memory-gib", type=float_within(MIN_CHILD_MEMORY_GIB, physical_memory_gib()),
                   default=DEFAULT_MEMORY_GIB, metavar="GIB", help="memory limit of that child (RLIMIT_DATA)")


def _unchecked(args: argparse.Namespace) -> UncheckedLimits | None:
    return UncheckedLimits(args.unchecked_time_s, args.unchecked_memory_gib) if args.run_unchecked_onnx else None


def cmd_export(args: argparse.Namespace) -> int:
    from export.exporters import export_all

    reports = []
    try:
        manifest = export_all(args.checkpoint, args.out, verify=not args.no_verify,
                              on_report=reports.append)
    except ParityError as exc:
        print(exc.report)  # the table of what failed; nothing was written to --out
        raise
    for entry in manifest["artifacts"]:
        extra = f" (opset {entry['opset']}, IR {entry['ir_version']})" if entry["format"] == "onnx" else ""
        print(f"wrote {args.out / entry['path']}: {entry['format']}{extra}, {entry['bytes']} bytes")
    print(f"wrote {args.out / 'manifest.json'}")
    for report in reports:
        _report(report)
    return 0


def _report(report) -> int:  # noqa: ANN001 - export.parity.VerifyReport
    print(report.table())
    if not report.passed:
        failed = sorted({r.runtime for r in report.rows if not r.passed})
        raise ParityError(f"parity failed for {', '.join(failed)} in {report.export_dir}")
    print(f"parity ok: {len(report.rows)} checks within tolerance in {report.export_dir}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from export.manifest import FORMATS
    from export.parity import verify_export
    from export.trust import trust_lines

    formats = tuple(args.trust_only or FORMATS)
    unchecked = _unchecked(args)
    report = verify_export(args.export_dir, args.checkpoint, formats=formats, unchecked=unchecked)
    print("\n".join(trust_lines(formats)))
    if unchecked is not None and "onnx" in formats:
        print(f"onnx: its graph's shape was not checked; onnxruntime ran it in {unchecked.describe()}")
    return _report(report)


def cmd_predict(args: argparse.Namespace) -> int:
    from export.predict import predict_export
    from linreg.device import resolve_device

    if args.checkpoint is not None:
        runtime = args.runtime or "eager"
        if runtime != "eager":
            raise LinregError(f"--runtime {runtime} needs --export-dir (a checkpoint runs eager only)")
        device = resolve_device(args.device)
        ys = predict_checkpoint(args.checkpoint, args.x, device)
    else:
        runtime = args.runtime or "onnxruntime"
        # ORT takes "cpu"/"cuda[:N]" itself and checks its provider; torch runtimes need a real device.
        device = _ort_device(args.device) if runtime == "onnxruntime" else str(resolve_device(args.device))
        unchecked = _unchecked(args)
        ys = predict_export(args.export_dir, runtime, args.x, device, unchecked)
        if unchecked is not None:  # the limits it ran under, beside the numbers they bound
            sys.stderr.write(f"predict: the ONNX graph ran unchecked in {unchecked.describe()}\n")
    print(format_predictions(ys))
    return 0


def _ort_device(spec: str) -> str:
    """An ORT device for --device: `auto` is CUDA where both torch and onnxruntime have it, else cpu."""
    if spec.strip().lower() != "auto":
        return spec
    import onnxruntime as ort
    from linreg.device import resolve_device

    device = resolve_device("auto")
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return str(device)
    return "cpu"


__all__ = ["register"]
