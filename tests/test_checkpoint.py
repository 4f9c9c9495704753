import pickle
from pathlib import Path

import pytest
import torch

from linreg.checkpoint import CheckpointError, load_model, load_state_dict, save_checkpoint
from linreg.models import LinearRegressionModelV2


class _Hostile:
    """Pickles to a call of os.system: what a malicious .pth would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_round_trip_predicts_bit_for_bit(tutorial_run, tmp_path, device):
    path = save_checkpoint(tutorial_run.model, tmp_path / "model.pth")
    name, loaded = load_model(path, device)
    assert name == "parameter"
    assert not loaded.training
    x = torch.linspace(-100, 100, 10_001).unsqueeze(1)
    with torch.inference_mode():
        expected = tutorial_run.model.cpu()(x)
        got = loaded(x.to(device)).cpu()
    if device == "cpu":
        assert torch.equal(got, expected)
    else:
        assert torch.allclose(got, expected, rtol=0, atol=1e-5)


def test_file_is_a_plain_state_dict(tutorial_run, tmp_path):
    """The tutorial's own code can load our file: torch.load gives the state_dict itself."""
    path = save_checkpoint(tutorial_run.model, tmp_path / "model.pth")
    state = torch.load(path, weights_only=True)
    assert list(state) == ["weights", "bias"]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_tutorial_file_loads_into_our_class(tmp_path):
    torch.manual_seed(42)
    theirs = torch.nn.Module()
    theirs.linear_layer = torch.nn.Linear(1, 1)
    torch.save(theirs.state_dict(), tmp_path / "01_pytorch_workflow_model_1.pth")
    name, model = load_model(tmp_path / "01_pytorch_workflow_model_1.pth")
    assert name == "linear" and isinstance(model, LinearRegressionModelV2)
    assert torch.equal(model.linear_layer.weight, theirs.linear_layer.weight)


def _write(path: Path, payload) -> Path:
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "checkpoint not found"),
        (lambda p: (p.write_bytes(b"not a checkpoint at all"), p)[1], "cannot load checkpoint"),
        (lambda p: (p.write_bytes(b""), p)[1], "cannot load checkpoint"),
        (lambda p: _write(p, {"weights": torch.ones(1)}), "is not a linreg model"),
        (lambda p: _write(p, {"a": torch.ones(1), "b": torch.ones(1)}), "is not a linreg model"),
        (lambda p: _write(p, [torch.ones(1)]), "does not hold a state_dict"),
        (lambda p: _write(p, {"weights": torch.ones(3), "bias": torch.ones(1)}), "does not fit"),
        (lambda p: _write(p, {"weights": torch.tensor([float("nan")]), "bias": torch.ones(1)}),
         "NaN or infinite"),
    ],
    ids=["missing", "garbage", "empty", "partial", "foreign-dict", "list", "shape", "nan"],
)
def test_bad_checkpoints_are_clear_errors(tmp_path, make, message):
    path = make(tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path)
    assert str(tmp_path / "model.pth") in str(info.value)


def test_truncated_checkpoint(tutorial_run, tmp_path):
    path = save_checkpoint(tutorial_run.model, tmp_path / "model.pth")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_state_dict(path)


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_hostile_pickle_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    payload = {"weights": _Hostile(marker), "bias": torch.ones(1)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_model(path)
    assert not marker.exists(), "the pickle's code ran"


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="is not a file"):
        load_model(tmp_path)


def test_written_files_follow_the_umask(tutorial_run, tmp_path):
    """mkstemp makes 0600 files; a result must be readable like any file the user writes."""
    import os

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tutorial_run.model, tmp_path / "model.pth")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    "state, message",
    [
        ({"weights": torch.tensor([1e300], dtype=torch.float64), "bias": torch.ones(1)},
         "NaN or infinite"),
        ({"weights": torch.tensor([1], dtype=torch.int64), "bias": torch.ones(1)}, "not floating point"),
        ({"weights": torch.tensor([True]), "bias": torch.ones(1)}, "not floating point"),
        ({"weights": torch.ones(1, dtype=torch.complex64), "bias": torch.ones(1)}, "not floating point"),
        ({"weights": torch.ones(1).to_sparse(), "bias": torch.ones(1)}, "sparse"),
    ],
    ids=["float64-overflow", "int", "bool", "complex", "sparse"],
)
def test_checkpoints_that_are_not_float_models(tmp_path, state, message):
    path = _write(tmp_path / "model.pth", state)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_whole_pickled_model_gets_plain_advice(tmp_path):
    torch.save(torch.nn.Linear(1, 1), tmp_path / "model.pth")  # the tutorial's torch.save(model)
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "model.pth")
    message = str(info.value)
    assert "pickled Python objects" in message
    assert "weights_only=False" not in message and "\x1b" not in message
