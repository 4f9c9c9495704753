import pytest
import torch

from linreg.data import make_linear_data, make_linear_samples, split_train_test


def test_tutorial_data_shape_and_values():
    X, y = make_linear_data()
    assert X.shape == (50, 1) and y.shape == (50, 1)
    assert X.dtype == torch.float32
    assert torch.equal(X.squeeze(1), torch.arange(0, 1, 0.02))
    assert torch.equal(y, 0.7 * X + 0.3)
    assert X[:3].flatten().tolist() == pytest.approx([0.0, 0.02, 0.04])


def test_ordered_split_is_40_10():
    X, y = make_linear_data()
    X_train, y_train, X_test, y_test = split_train_test(X, y)
    assert (len(X_train), len(X_test)) == (40, 10)
    assert torch.equal(torch.cat([X_train, X_test]), X)  # ordered, nothing shuffled
    assert torch.equal(torch.cat([y_train, y_test]), y)


@pytest.mark.parametrize("n", [2, 40, 1000, 10**6])
def test_samples_are_evenly_spaced(n):
    X, y = make_linear_samples(n)
    assert X.shape == (n, 1)
    assert X[0].item() == 0.0 and X[-1].item() < 1.0
    steps = X.diff(dim=0).double()
    assert torch.allclose(steps, torch.full_like(steps, 1.0 / n), rtol=1e-5, atol=1e-7)
    assert torch.equal(y, 0.7 * X + 0.3)


@pytest.mark.parametrize("bad", [0, 1, -5])
def test_too_few_samples_is_an_error(bad):
    with pytest.raises(ValueError, match="n must be >= 2"):
        make_linear_samples(bad)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_train_fraction(fraction):
    X, y = make_linear_data()
    with pytest.raises(ValueError, match="train_fraction"):
        split_train_test(X, y, fraction)
