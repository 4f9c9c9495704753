"""sweep.toml: read as untrusted input, validated key by key, expanded into trial configs."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from linreg.errors import LinregError, did_you_mean
from linreg.models import MODELS
from linreg.train import LOSSES, OPTIMIZERS, TrainConfig
from linreg.untrusted import read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (pinned in constraints.txt)
    import tomli as tomllib

MAX_CONFIG_BYTES = 1 << 20
MAX_TRIALS = 256          # a bigger sweep needs --yes: it is probably a typo in a grid
MAX_TRIALS_WITH_YES = 100_000  # --yes permits this many: each trial is a record kept in memory and a file
MAX_GRID_VALUES = 10_000  # values in one grid list, before any product
TRAIN_KEYS = ("model", "loss", "optimizer", "lr", "epochs", "seed", "n", "device", "threads")
SWEEP_KEYS = ("samples", "sample_seed", "target_test_loss")
TABLES = ("grid", "fixed")
DEFAULT_TARGET_TEST_LOSS = 0.01


class SweepConfigError(LinregError):
    """A sweep.toml that cannot be run as written (exit 2)."""


@dataclass(frozen=True)
class SweepSpec:
    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    samples: int | None = None
    sample_seed: int = 0
    target_test_loss: float = DEFAULT_TARGET_TEST_LOSS
    source: str = field(default="sweep.toml", compare=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    def trial_count(self) -> int:
        """How many trials the sweep runs, known before any is built."""
        return self.samples if self.samples is not None else self.grid_size()


def _fail(source: object, key: str, problem: str) -> SweepConfigError:
    return SweepConfigError(f"{source}: key {key}: {problem}")


def check_value(key: str, value: Any, source: object, where: str) -> Any:
    """One train setting, type- and range-checked; `where` names it in errors (grid.lr[2])."""
    def bad(problem: str) -> SweepConfigError:
        return _fail(source, where, problem)
    if key in ("model", "loss", "optimizer", "device"):
        if not isinstance(value, str) or not value or "\0" in value:
            raise bad(f"expected a string, got {value!r}")
        choices = {"model": tuple(MODELS), "loss": tuple(LOSSES), "optimizer": OPTIMIZERS}.get(key)
        if choices and value not in choices:
            raise bad(f"{value!r} is not one of {', '.join(choices)}")
        return value
    if key == "lr":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"expected a number, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise bad(f"the learning rate must be a positive finite number, got {value!r}")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"expected an integer, got {value!r}")
    low, high = {"epochs": (0, 10**7), "seed": (0, 2**63 - 1), "n": (2, 10**9),
                 "threads": (1, 1024)}[key]
    if not low <= value <= high:
        raise bad(f"{value} is outside [{low}, {high}]")
    return value


def _check_grid(raw: Any, source: object) -> dict[str, list[Any]]:
    if not isinstance(raw, dict):
        raise _fail(source, "grid", "expected a table [grid]")
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if key not in TRAIN_KEYS:
            raise _fail(source, f"grid.{key}", "unknown key" + did_you_mean(key, TRAIN_KEYS))
        if not isinstance(values, list):
            raise _fail(source, f"grid.{key}", f"expected a list of values, got {values!r}")
        if not values:
            raise _fail(source, f"grid.{key}", "is an empty list: the grid would have no trials")
        if len(values) > MAX_GRID_VALUES:
            raise _fail(source, f"grid.{key}", f"{len(values)} values, over the limit of {MAX_GRID_VALUES}")
        checked = [check_value(key, v, source, f"grid.{key}[{i}]") for i, v in enumerate(values)]
        if len(set(map(repr, checked))) != len(checked):
            raise _fail(source, f"grid.{key}", "holds the same value twice")
        grid[key] = checked
    if not grid:
        raise _fail(source, "grid", "is empty: name at least one setting to vary")
    return grid


def _split_fixed(raw: Any, source: object, grid: dict[str, list[Any]]) -> tuple[dict, dict]:
    if not isinstance(raw, dict):
        raise _fail(source, "fixed", "expected a table [fixed]")
    fixed, options = {}, {}
    for key, value in raw.items():
        if key in SWEEP_KEYS:
            options[key] = value
        elif key not in TRAIN_KEYS:
            raise _fail(source, f"fixed.{key}", "unknown key" + did_you_mean(key, TRAIN_KEYS + SWEEP_KEYS))
        elif key in grid:
            raise _fail(source, f"fixed.{key}", "is also in [grid]; give it in one of them")
        else:
            fixed[key] = check_value(key, value, source, f"fixed.{key}")
    return fixed, options


def _sweep_options(options: dict[str, Any], source: object, grid_size: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "target_test_loss":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise _fail(source, key, f"expected a positive finite number, got {value!r}")
            out[key] = float(value)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "samples" else 0):
            raise _fail(source, key, f"expected an integer >= {1 if key == 'samples' else 0}, got {value!r}")
        out[key] = value
    if out.get("samples", 0) > grid_size:
        raise _fail(source, "samples", f"{out['samples']} is more than the grid's {grid_size} combinations")
    return out


def parse_spec(text: str, source: object = "sweep.toml") -> SweepSpec:
    """Validate a sweep.toml's text; every problem is one error naming the file and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepConfigError(f"{source}: not valid TOML: {exc}") from None
    top = {k: v for k, v in data.items() if k not in TABLES}
    for key in top:
        if key not in SWEEP_KEYS:
            raise _fail(source, key, "unknown key" + did_you_mean(key, TABLES + SWEEP_KEYS))
    grid = _check_grid(data.get("grid", {}), source)
    fixed, options = _split_fixed(data.get("fixed", {}), source, grid)
    size = math.prod(len(v) for v in grid.values())
    opts = _sweep_options({**top, **options}, source, size)
    return SweepSpec(grid=grid, fixed=fixed, source=str(source), **opts)


def load_spec(path: Path) -> SweepSpec:
    raw = read_bytes(path, MAX_CONFIG_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SweepConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_spec(text, path)


def combination(grid: dict[str, list[Any]], index: int) -> tuple[Any, ...]:
    """The `index`-th combination in itertools.product order (the last key varies fastest),
    without building the others: a 3x10^9-combination grid is never materialised."""
    values = []
    for options in reversed(list(grid.values())):
        index, digit = divmod(index, len(options))
        values.append(options[digit])
    return tuple(reversed(values))


def trial_configs(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every trial's complete train config (defaults included), in grid order or sampled.
    Samples are drawn by index (random.sample over a range is lazy): the same draws as before."""
    keys = list(spec.grid)
    if spec.samples is not None:
        indices = sorted(random.Random(spec.sample_seed).sample(range(spec.grid_size()), spec.samples))
    else:
        indices = range(spec.grid_size())
    configs = []
    for index in indices:
        settings = {**spec.fixed, **dict(zip(keys, combination(spec.grid, index)))}
        try:
            configs.append(asdict(TrainConfig(**settings)))
        except LinregError as exc:
            raise SweepConfigError(f"{spec.source}: trial {settings}: {exc}") from None
    return configs


def trial_id(config: dict[str, Any]) -> str:
    """A stable name for a trial: the hash of its complete config (resume finds it by this)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
