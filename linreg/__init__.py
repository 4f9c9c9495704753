"""The PyTorch workflow tutorial as a package: data, models, training, checkpoints, plots.

`linreg` knows nothing of `export` or `bench`; they stand on it. The Python API is __all__:
`train(TrainConfig(...), on_epoch=...)` runs the tutorial's loop, `run_training` also publishes
model.pth, train.json and the plots into a folder.
"""
from linreg.checkpoint import CheckpointError, load_model, load_state_dict, save_checkpoint
from linreg.data import make_linear_data, make_linear_samples, split_train_test
from linreg.device import parse_device, resolve_device
from linreg.errors import LinregError
from linreg.models import MODELS, LinearRegressionModel, LinearRegressionModelV2
from linreg.predict import predict_checkpoint
from linreg.publish import run_training
from linreg.train import EpochRecord, TrainConfig, TrainResult, train

__all__ = [
    "MODELS",
    "CheckpointError",
    "EpochRecord",
    "LinearRegressionModel",
    "LinearRegressionModelV2",
    "LinregError",
    "TrainConfig",
    "TrainResult",
    "load_model",
    "load_state_dict",
    "make_linear_data",
    "make_linear_samples",
    "parse_device",
    "predict_checkpoint",
    "resolve_device",
    "run_training",
    "save_checkpoint",
    "split_train_test",
    "train",
]
