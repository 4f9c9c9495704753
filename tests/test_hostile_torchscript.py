"""What a crafted TorchScript file can do at torch.jit.load, and that linreg-bench refuses it first.

The attack (export/torchscript_archive.py): a `__setstate__` in the archive's code runs during
torch.jit.load; hand-edited to call torch.from_file(path, shared=True) it overwrites an existing
file the user can write. Here it overwrites a marker file inside tmp_path.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from bench.cli import main
from export.errors import ArtifactError
from export.torchscript_archive import check_code, check_torchscript_bytes
from tests.helpers import copy_export
from tests.hostile import loading_commands, rehash


class Payload(torch.nn.Module):
    """Scripts to a module with __getstate__/__setstate__; the code is then edited by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = torch.nn.Parameter(torch.ones(1))
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights * x + self.bias

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        return (self.weights, self.bias, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, torch.Tensor, bool]) -> None:
        self.weights = state[0]
        self.bias = state[1]
        self.training = state[2]


def hostile_torchscript(path: Path, marker: Path) -> None:
    """A TorchScript archive whose __setstate__ overwrites `marker` through torch.from_file."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(Payload()), buffer)
    inject = (f'    _9 = torch.from_file("{marker}", True, 8, dtype=0)\n    _10 = torch.fill_(_9, 65)\n'
              f"    self.bias = torch.add((state)[1], torch.mul(torch.sum(_10), 0))\n")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".debug_pkl"):
                continue  # stale source ranges would not match the edited code
            if info.filename.endswith(".py"):
                data = data.decode().replace("    self.bias = (state)[1]\n", inject).encode()
            zout.writestr(info.filename, data)
    path.write_bytes(out.getvalue())


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text("original")
    return path


def test_the_attack_is_real_when_torch_jit_loads_it_unchecked(tmp_path: Path, marker: Path) -> None:
    hostile_torchscript(tmp_path / "evil.pt", marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(tmp_path / "evil.pt"))  # no forward call: loading alone does it
    assert marker.read_bytes() == b"AAAAAAAA"


@pytest.mark.parametrize("argv", loading_commands("torchscript"))
def test_hostile_torchscript_refused_with_exit_2_and_never_runs(
        exported: Path, tmp_path: Path, marker: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    export_dir = copy_export(exported, tmp_path / "h")
    hostile_torchscript(export_dir / "model.torchscript.pt", marker)
    rehash(export_dir)
    assert main([a.format(d=export_dir, o=tmp_path / "out") for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert marker.read_text() == "original"


def _our_code(exported: Path) -> str:
    with zipfile.ZipFile(exported / "model.torchscript.pt") as zf:
        name = next(n for n in zf.namelist() if n.endswith("linreg/models.py"))
        return zf.read(name).decode()


@pytest.mark.parametrize("edit, words", [
    (lambda c: c + "  def __setstate__(self: __torch__.linreg.models.LinearRegressionModel,\n"
                   "    state: Tuple[Tensor, Tensor, bool]) -> NoneType:\n    return None\n", "__setstate__"),
    (lambda c: c.replace("_0 = torch.mul(weights, x)", '_0 = torch.from_file("/x", True, 8)'), "from_file"),
    (lambda c: c.replace("_0 = torch.mul(weights, x)", '_0 = getattr(self, "weights")'), "getattr"),
    (lambda c: c.replace("torch.mul(weights, x)", "ops.aten.mul(weights, x)"), "ops"),
    (lambda c: c + "\n  def (", "does not parse"),
])
def test_code_our_exporter_never_writes_is_refused(exported: Path, edit, words: str) -> None:  # noqa: ANN001
    code = _our_code(exported)
    check_code(code, "models.py")  # ours passes
    with pytest.raises(ArtifactError, match=words):
        check_code(edit(code), "models.py")


def test_our_torchscript_exports_pass(exported: Path) -> None:
    check_torchscript_bytes((exported / "model.torchscript.pt").read_bytes(), "model.torchscript.pt")


def test_both_models_exports_pass_both_archive_checks(tmp_path: Path) -> None:
    """The allowlists cover nn.Linear (LinearRegressionModelV2) as well as the tutorial's model_0."""
    from export.exporters import export_all
    from export.pt2_archive import check_pt2_bytes
    from linreg.checkpoint import save_checkpoint
    from linreg.train import TrainConfig, train

    checkpoint = save_checkpoint(train(TrainConfig(model="linear", epochs=1, device="cpu")).model,
                                 tmp_path / "model.pth")
    out = tmp_path / "export"
    export_all(checkpoint, out, verify=False)
    check_torchscript_bytes((out / "model.torchscript.pt").read_bytes(), "model.torchscript.pt")
    check_pt2_bytes((out / "model.pt2").read_bytes(), "model.pt2")


def test_trust_only_onnx_checks_a_hostile_folder_without_loading_any_program(
        exported: Path, tmp_path: Path, marker: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.hostile import make_pickled_weights_pt2

    export_dir = copy_export(exported, tmp_path / "h")
    hostile_torchscript(export_dir / "model.torchscript.pt", marker)
    pt2_marker = tmp_path / "PT2_PWNED"
    make_pickled_weights_pt2(export_dir, pt2_marker)  # re-hashes the manifest for both
    assert main(["verify", "--export-dir", str(export_dir), "--trust-only", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "torchscript: program" in out and "NOT loaded (--trust-only)" in out and "onnx: data" in out
    assert "onnxruntime-cpu" in out and "exported_program " not in out.split("runtime", 1)[1]
    assert marker.read_text() == "original" and not pt2_marker.exists()
