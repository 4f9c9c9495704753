import pytest
import torch

from linreg.models import (
    LinearRegressionModel,
    LinearRegressionModelV2,
    build_model,
    line_parameters,
    model_name_for_keys,
)


def test_parameter_model_matches_tutorial_init():
    torch.manual_seed(42)
    model = LinearRegressionModel()
    assert list(model.state_dict()) == ["weights", "bias"]
    # Published: OrderedDict([('weights', tensor([0.3367])), ('bias', tensor([0.1288]))])
    assert round(model.weights.item(), 4) == 0.3367
    assert round(model.bias.item(), 4) == 0.1288
    assert all(p.requires_grad and p.shape == (1,) for p in model.parameters())


def test_linear_model_matches_tutorial_init():
    torch.manual_seed(42)
    model = LinearRegressionModelV2()
    assert list(model.state_dict()) == ["linear_layer.weight", "linear_layer.bias"]
    # Published: linear_layer.weight tensor([[0.7645]]), linear_layer.bias tensor([0.8300])
    assert round(model.linear_layer.weight.item(), 4) == 0.7645
    assert round(model.linear_layer.bias.item(), 4) == 0.8300


@pytest.mark.parametrize("name", ["parameter", "linear"])
def test_forward_is_a_line(name, device):
    torch.manual_seed(0)
    model = build_model(name).to(device)
    w, b = line_parameters(model)
    x = torch.linspace(-3, 3, 101, device=device).unsqueeze(1)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (101, 1)
    assert torch.allclose(y, w * x + b)


def test_state_dict_keys_identify_the_model():
    assert model_name_for_keys({"weights", "bias"}) == "parameter"
    assert model_name_for_keys({"linear_layer.weight", "linear_layer.bias"}) == "linear"
    assert model_name_for_keys({"weights"}) is None
    assert model_name_for_keys({"weights", "bias", "extra"}) is None


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'cnn'"):
        build_model("cnn")
