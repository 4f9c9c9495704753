"""A sweep folder: its config, one file per finished trial (atomic), read back as untrusted input."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.experiments.spec import SweepConfigError, SweepSpec
from linreg.destinations import claim_folder, json_record_is_ours
from linreg.files import write_json_atomic
from linreg.untrusted import UntrustedFileError, load_json

CONFIG_FILE = "sweep-config.json"
TRIALS_DIR = "trials"
STATUSES = ("ok", "diverged", "failed")
SWEEP_RECORD = json_record_is_ours(CONFIG_FILE, ("grid", "fixed"))  # sweeps from before the marker


def prepare(out: Path, spec: SweepSpec, restart: bool) -> None:
    """Make `out` hold this sweep; a folder of another sweep is refused unless --restart."""
    claim_folder(out, "sweep", SWEEP_RECORD)  # a user's folder (their summary.md) is never written into
    wanted = spec.as_json()
    config_path = out / CONFIG_FILE
    if config_path.exists() and not restart:
        try:
            held = load_json(config_path)
        except UntrustedFileError:
            held = None
        if held != json.loads(json.dumps(wanted)):
            done = len(list((out / TRIALS_DIR).glob("*.json")))
            raise SweepConfigError(
                f"{out} holds a sweep of another config ({done} finished trials); "
                "run it with its own config, or pass --restart to discard them")
    if restart:
        shutil.rmtree(out / TRIALS_DIR, ignore_errors=True)
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    if restart or not config_path.exists():  # else it holds `wanted` already: leave its bytes be
        write_json_atomic(config_path, wanted)


def save_trial(out: Path, record: dict[str, Any]) -> None:
    write_json_atomic(out / TRIALS_DIR / f"{record['id']}.json", record)


def finished_trials(out: Path, wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The trials already done, by id; a file that does not match its name or config is redone."""
    done: dict[str, dict[str, Any]] = {}
    for tid, config in wanted.items():
        path = out / TRIALS_DIR / f"{tid}.json"
        if not path.exists():
            continue
        try:
            record = load_json(path)
        except UntrustedFileError as exc:
            sys.stderr.write(f"warning: {exc}; running that trial again\n")
            continue
        if (not isinstance(record, dict) or record.get("id") != tid or record.get("config") != config
                or record.get("status") not in STATUSES or not _well_formed(record)):
            sys.stderr.write(f"warning: {path}: not this sweep's trial {tid}; running it again\n")
            continue
        done[tid] = record
    return done


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _well_formed(record: dict[str, Any]) -> bool:
    """The fields the summary and plots read have the types they need (a stranger may edit them)."""
    if not _is_number(record.get("train_time_s")):
        return False
    if record["status"] != "ok":
        return record["status"] != "diverged" or isinstance(record.get("diverged_at_epoch"), int)
    numbers = ("final_train_loss", "final_test_loss", "weight", "bias", "abs_weight_error", "abs_bias_error")
    history = record.get("history")
    return (all(_is_number(record.get(k)) for k in numbers)
            and (record.get("epochs_to_target") is None or isinstance(record.get("epochs_to_target"), int))
            and isinstance(record.get("final_state"), dict)
            and isinstance(history, dict)
            and all(isinstance(history.get(k), list) and all(map(_is_number, history[k]))
                    for k in ("train_loss", "test_loss")))
