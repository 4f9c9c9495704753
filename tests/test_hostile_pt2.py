"""A hostile model.pt2 (the issue's attack) never runs its code, in verify, predict and bench."""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest
import torch

from bench.cli import main
from export.errors import ArtifactError
from export.pt2_archive import check_pt2_bytes
from tests.helpers import copy_export
from tests.hostile import loading_commands, make_pickled_weights_pt2, rehash, rewrite_pt2


@pytest.fixture
def hostile(exported: Path, tmp_path: Path) -> tuple[Path, Path]:
    export_dir = copy_export(exported, tmp_path / "h")
    marker = tmp_path / "PWNED"
    make_pickled_weights_pt2(export_dir, marker)
    return export_dir, marker


def test_the_attack_is_real_when_torch_loads_it_unchecked(hostile: tuple[Path, Path]) -> None:
    """Without our check, torch.export.load runs the payload: the test file is a real attack."""
    export_dir, marker = hostile
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.load(str(export_dir / "model.pt2"))
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("argv", loading_commands("exported_program"))
def test_hostile_pt2_refused_with_exit_2_and_code_never_runs(
        hostile: tuple[Path, Path], tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    export_dir, marker = hostile
    args = [a.format(d=export_dir, o=tmp_path / "out") for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "use_pickle" in err and "Traceback" not in err
    assert not marker.exists()


def _tamper_program(export_dir: Path, edit) -> Path:  # noqa: ANN001
    def on_model(name: str, data: bytes) -> bytes:
        if name.endswith("models/model.json"):
            program = json.loads(data)
            edit(program)
            return json.dumps(program).encode()
        return data

    rewrite_pt2(export_dir / "model.pt2", on_model)
    rehash(export_dir)
    return export_dir / "model.pt2"


def _set_guard(program: dict, marker: Path) -> None:
    program["guards_code"] = [f"__import__('pathlib').Path({str(marker)!r}).write_text('x') is None"]


def _set_expr(program: dict, marker: Path) -> None:
    values = program["graph_module"]["graph"]["tensor_values"]
    values["x"]["sizes"][0]["as_expr"]["expr_str"] = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"


def _set_target(program: dict, marker: Path) -> None:
    program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.ops.aten.save.default"


@pytest.mark.parametrize("edit, words", [(_set_guard, "guards_code"), (_set_expr, "sympify"),
                                          (_set_target, "operator")])
def test_code_in_the_graph_json_is_refused(exported: Path, tmp_path: Path, edit, words: str) -> None:  # noqa: ANN001
    """guards_code is exec()'d and expr_str is sympify()'d (eval) by torch: both are refused."""
    export_dir = copy_export(exported, tmp_path / "g")
    marker = tmp_path / "PWNED"
    pt2 = _tamper_program(export_dir, lambda p: edit(p, marker))
    with pytest.raises(ArtifactError, match=words):
        check_pt2_bytes(pt2.read_bytes(), pt2)
    assert not marker.exists()


def test_sample_inputs_pickle_must_pass_the_weights_only_unpickler(exported: Path, tmp_path: Path) -> None:
    """torch retries a refused sample-inputs pickle with weights_only=False: we refuse it first."""
    from tests.hostile import MarkerPayload

    export_dir = copy_export(exported, tmp_path / "s")
    marker = tmp_path / "PWNED"
    buffer = io.BytesIO()
    torch.save(((MarkerPayload(marker, torch.zeros(1)),), {}), buffer)
    rewrite_pt2(export_dir / "model.pt2",
                lambda name, data: buffer.getvalue() if name.endswith("sample_inputs/model.pt") else data)
    with pytest.raises(ArtifactError, match="weights-only unpickler refuses"):
        check_pt2_bytes((export_dir / "model.pt2").read_bytes(), "model.pt2")
    assert not marker.exists()


@pytest.mark.parametrize("name", ["package/data/constants/custom_obj_0", "package/extra/notes.txt",
                                  "package/data/weights/model.pt", "version"])
def test_entries_our_exporter_never_writes_are_refused(exported: Path, name: str) -> None:
    data = (exported / "model.pt2").read_bytes()
    buffer = io.BytesIO(data)
    import zipfile
    with zipfile.ZipFile(buffer, "a") as zf:
        zf.writestr(name.replace("package", zf.namelist()[0].split("/")[0]), b"\x80\x02N.")
    with pytest.raises(ArtifactError, match="unexpected archive entry|root folder"):
        check_pt2_bytes(buffer.getvalue(), "model.pt2")


def test_our_own_exports_pass_the_check(exported: Path) -> None:
    check_pt2_bytes((exported / "model.pt2").read_bytes(), exported / "model.pt2")
