"""`export`: the three artifacts, the manifest, quiet exporters, bad input, nothing half-written."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.cli import main
from helpers import copy_export
from export.errors import ArtifactError, ExportError
from export.exporters import export_all
from export.loaders import load_exported_program, load_torchscript, read_manifest
from export.manifest import ARTIFACT_NAMES, sha256_file
from export.validation import check_onnx
from linreg.checkpoint import CheckpointError


def leftovers(folder: Path) -> list[str]:
    """Temporary or backup folders that a failed export would leave behind."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_export_writes_three_artifacts_and_a_manifest(exported, checkpoint):
    assert {p.name for p in exported.iterdir()} == {*ARTIFACT_NAMES.values(), "manifest.json"}
    assert not list(exported.glob("*.data")), "ONNX must be one self-contained file"
    assert leftovers(exported.parent) == []
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["model"] == "parameter"
    assert manifest["source_checkpoint"] == {"path": "../model.pth", "sha256": sha256_file(checkpoint)}
    assert manifest["versions"]["torch"] == torch.__version__ and manifest["versions"]["onnx"]
    by_format = {a["format"]: a for a in manifest["artifacts"]}
    assert set(by_format) == {"torchscript", "onnx", "exported_program"}
    for entry in manifest["artifacts"]:
        assert not Path(entry["path"]).is_absolute()
        assert sha256_file(exported / entry["path"]) == entry["sha256"]
    assert by_format["onnx"]["opset"] >= 18 and by_format["onnx"]["ir_version"] >= 8
    assert by_format["onnx"]["exporter"] == "dynamo"
    assert by_format["torchscript"]["method"] == "script"
    assert read_manifest(exported) == manifest


def test_onnx_passes_checker_and_keeps_the_batch_interface(exported):
    info = check_onnx(exported / "model.onnx")
    assert info["inputs"] == {"x": ["batch", 1]} and info["outputs"] == {"y": ["batch", 1]}
    assert info["opset"] >= 18


def test_onnx_graph_is_flat(exported):
    import onnx

    ops = [n.op_type for n in onnx.load(str(exported / "model.onnx")).graph.node]
    assert ops == ["Reshape", "Mul", "Add", "Reshape"]


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_torch_artifacts_take_any_batch(exported, batch):
    x = torch.linspace(-5, 5, batch).unsqueeze(1)
    for module in (load_torchscript(exported / "model.torchscript.pt"),
                   load_exported_program(exported / "model.pt2")):
        with torch.no_grad():
            assert module(x).shape == (batch, 1)


def test_loading_torchscript_raises_no_warnings(exported):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked DeprecationWarning would fail here
        load_torchscript(exported / "model.torchscript.pt")
        load_exported_program(exported / "model.pt2")


def test_cli_export_is_quiet_and_replaces_an_old_export(checkpoint, tmp_path, capfd):
    out = tmp_path / "exp"
    export_all(checkpoint, out, verify=False)  # an older export folder: replaced whole
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    captured = capfd.readouterr()
    assert captured.err == "", captured.err  # no torchvision logs, no warnings, no prints
    assert [str(w.message) for w in caught] == []
    for noise in ("[torch.onnx]", "torchvision", "LeafSpec", "Deprecat"):
        assert noise not in captured.out
    assert "parity ok" in captured.out and "random_1000000" in captured.out
    assert {p.name for p in out.iterdir()} == {*ARTIFACT_NAMES.values(), "manifest.json"}
    assert leftovers(tmp_path) == []


def _hostile_checkpoint(path: Path, marker: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"weights": Evil()}, path)


@pytest.mark.parametrize("kind", ["missing", "corrupt", "truncated", "hostile", "foreign"])
def test_bad_checkpoint_fails_export_with_one_line(kind, checkpoint, tmp_path, capsys):
    bad = tmp_path / "model.pth"
    marker = tmp_path / "pwned"
    if kind == "corrupt":
        bad.write_bytes(b"not a zip at all")
    elif kind == "truncated":
        bad.write_bytes(checkpoint.read_bytes()[:200])
    elif kind == "hostile":
        _hostile_checkpoint(bad, marker)
    elif kind == "foreign":
        torch.save({"w": torch.ones(1)}, bad)
    out = tmp_path / "exp"
    assert main(["export", "--checkpoint", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err
    assert not out.exists() and not marker.exists()
    assert leftovers(tmp_path) == []


def test_export_raises_checkpoint_error_from_the_api(tmp_path):
    with pytest.raises(CheckpointError):
        export_all(tmp_path / "absent.pth", tmp_path / "exp")


def test_unwritable_out_is_one_line(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "--out" in err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_read_only_parent_is_one_line(checkpoint, tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        assert main(["export", "--checkpoint", str(checkpoint), "--out", str(parent / "exp")]) == 2
        assert "cannot write --out" in capsys.readouterr().err
    finally:
        parent.chmod(0o700)


def test_refuses_to_replace_a_foreign_folder(checkpoint, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    with pytest.raises(ExportError, match="not an export folder"):
        export_all(checkpoint, out)
    assert (out / "thesis.tex").read_text() == "keep me"


def test_tampered_artifact_is_caught_before_use(exported, tmp_path, capsys):
    copy = copy_export(exported, tmp_path)
    onnx_file = copy / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[-5] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="tampered"):
        read_manifest(copy)
    assert main(["verify", "--export-dir", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "model.onnx" in err


def test_truncated_artifact_is_exit_2(exported, tmp_path, capsys):
    copy = copy_export(exported, tmp_path)
    pt2 = copy / "model.pt2"
    pt2.write_bytes(pt2.read_bytes()[:100])
    assert main(["predict", "--export-dir", str(copy), "--runtime", "exported_program", "1"]) == 2
    assert "model.pt2" in capsys.readouterr().err


def test_unknown_format_is_exit_2(exported, tmp_path, capsys):
    copy = copy_export(exported, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["artifacts"][0]["format"] = "tflite"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", "--export-dir", str(copy)]) == 2
    assert "unknown artifact format 'tflite'" in capsys.readouterr().err


def test_manifest_paths_cannot_escape_the_folder(exported, tmp_path):
    copy = copy_export(exported, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["artifacts"][0]["path"] = "../model.pth"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="not a plain path"):
        read_manifest(copy)


def test_not_an_export_folder(tmp_path, capsys):
    assert main(["verify", "--export-dir", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["verify", "--export-dir", str(tmp_path / "absent")]) == 2
    assert "not found" in capsys.readouterr().err


def test_onnx_metadata_names_the_source(exported, checkpoint):
    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported / "model.onnx")).metadata_props}
    assert props["linreg.source_checkpoint_sha256"] == sha256_file(checkpoint)
    assert props["linreg.model"] == "parameter"
    assert np.isfinite(float(len(props)))


def test_parity_failure_at_export_is_exit_1_and_writes_nothing(checkpoint, tmp_path, capsys, monkeypatch):
    from export import graphs

    # A subtly wrong ONNX graph (bias off by 1e-3): only the parity check can notice.
    monkeypatch.setattr(graphs.FlatLine, "forward",
                        lambda self, x: (x.reshape(-1) * self.weight + (self.bias + 1e-3)).reshape(-1, 1))
    out = tmp_path / "exp"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "onnxruntime-cpu" in captured.out
    assert captured.err.startswith("error: parity failed for onnx-reference, onnxruntime-cpu")
    assert captured.err.count("\n") == 1 and str(out) in captured.err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_export_speed_runs_and_reports_every_variant(capsys):
    """The measurement tool runs end to end; no timing is asserted (the machine is shared)."""
    assert main(["export-speed", "--batches", "1000", "--repeats", "2"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[-1])
    variants = {r["variant"] for r in record["rows"]}
    assert {"numpy w*x+b (out=)", "ORT naive [N,1] run", "ORT exported flat run"} <= variants
    assert record["threads"] == 1
