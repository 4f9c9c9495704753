"""The PyTorch workflow tutorial as a package: data, models, training, checkpoints, plots.

`linreg` knows nothing of `export` or `bench`; they stand on it. The Python API is __all__:
`train(TrainConfig(...), on_epoch=...)` runs the tutorial's loop, `run_training` also publishes
model.pth, train.json and the plots into a folder. Names load on first use (`import linreg`
imports no torch until one is needed).
"""
from __future__ import annotations

from linreg.lazy import lazy_api

# public name -> "module:attribute"
_API = {
    "TrainConfig": "linreg.train:TrainConfig",
    "TrainResult": "linreg.train:TrainResult",
    "EpochRecord": "linreg.train:EpochRecord",
    "train": "linreg.train:train",                        # the tutorial's loop: train(config, on_epoch=...)
    "run_training": "linreg.publish:run_training",        # train, then publish model.pth, train.json, plots
    "save_checkpoint": "linreg.checkpoint:save_checkpoint",
    "load_model": "linreg.checkpoint:load_model",         # weights_only: a stranger's file runs nothing
    "load_state_dict": "linreg.checkpoint:load_state_dict",
    "CheckpointError": "linreg.checkpoint:CheckpointError",
    "predict_checkpoint": "linreg.predict:predict_checkpoint",
    "make_linear_data": "linreg.data:make_linear_data",
    "make_linear_samples": "linreg.data:make_linear_samples",
    "split_train_test": "linreg.data:split_train_test",
    "MODELS": "linreg.models:MODELS",
    "LinearRegressionModel": "linreg.models:LinearRegressionModel",
    "LinearRegressionModelV2": "linreg.models:LinearRegressionModelV2",
    "parse_device": "linreg.device:parse_device",
    "resolve_device": "linreg.device:resolve_device",
    "LinregError": "linreg.errors:LinregError",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api("linreg", _API, globals())
