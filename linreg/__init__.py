"""The PyTorch workflow tutorial as a package: data, models, training, checkpoints, plots.

`linreg` knows nothing of `export` or `bench`; they stand on it.
"""
from linreg.data import make_linear_data, make_linear_samples, split_train_test
from linreg.errors import LinregError
from linreg.models import MODELS, LinearRegressionModel, LinearRegressionModelV2

__all__ = [
    "MODELS",
    "LinearRegressionModel",
    "LinearRegressionModelV2",
    "LinregError",
    "make_linear_data",
    "make_linear_samples",
    "split_train_test",
]
