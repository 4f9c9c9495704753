"""`linreg-bench train`: argparse only; the work is linreg.publish.run_training."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from linreg.argtypes import DefaultsHelpFormatter, finite_float, non_negative_int
from linreg.publish import run_training
from linreg.train import LOSSES, OPTIMIZERS, TrainConfig
from linreg.trainlog import TrainLog


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument("--model", choices=["parameter", "linear"], default=d.model,
                   help="parameter: two nn.Parameter (tutorial model_0); linear: nn.Linear(1, 1)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="full-batch epochs")
    p.add_argument("--lr", type=finite_float, default=d.lr, help="learning rate")
    p.add_argument("--loss", choices=sorted(LOSSES), default=d.loss, help="l1 is the tutorial's MAE")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d.optimizer, help="optimizer")
    p.add_argument("--seed", type=int, default=d.seed, help="torch.manual_seed before the model is built")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--n", type=int, default=None,
                   help="N evenly spaced samples instead of the tutorial's 50 (default: the tutorial's 50)")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch intra-op threads (pinned: large-N results depend on it)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train the tutorial's model and save it",
                              formatter_class=DefaultsHelpFormatter)
    add_train_arguments(p)
    p.add_argument("--log-every", type=non_negative_int, default=10, metavar="N",
                   help="print the tutorial's loss line every N epochs (0: silent)")
    p.add_argument("--out", type=Path, required=True, help="folder for model.pth, train.json, plots")
    p.set_defaults(func=cmd_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model, epochs=args.epochs, lr=args.lr, loss=args.loss,
        optimizer=args.optimizer, seed=args.seed, device=args.device, n=args.n,
        threads=args.threads,
    )


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = run_training(config, args.out, log=TrainLog(config.loss, args.log_every))
    last = result.history[-1] if result.history else None
    params = ", ".join(f"{k}={np.asarray(v).ravel().tolist()}" for k, v in result.final_state.items())
    loss = f"train loss {last.train_loss:.6g}, test loss {last.test_loss:.6g}; " if last else ""
    print(f"trained {config.model} for {config.epochs} epochs on {result.device}: {loss}{params}")
    print(f"wrote {args.out}/model.pth, train.json, predictions.png, loss_curves.png")
    return 0
