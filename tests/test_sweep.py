"""linreg-bench sweep: trials equal train's bits, resume, refusals, divergence records, bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.experiments.spec import parse_spec, trial_configs
from bench.experiments.timeline import Timeline, describe, process_age_s
from linreg.limits import default_child_memory_gib

SWEEP = """
[grid]
model = ["parameter", "linear"]
lr = [0.01, 0.1]
loss = ["l1", "mse"]
[fixed]
epochs = 30
target_test_loss = 0.05
"""


def _write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _sweep(tmp_path: Path, text: str, out: str = "out", *extra: str) -> tuple[int, Path]:
    config = _write(tmp_path, text, f"{out}.toml")
    return main(["sweep", "--config", str(config), "--out", str(tmp_path / out), "--jobs", "2",
                 *extra]), tmp_path / out


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    rc, out = _sweep(tmp, SWEEP)
    assert rc == 0
    return out, json.loads((out / "sweep.json").read_text())


def test_every_trial_is_bit_identical_to_a_train_run(swept, tmp_path):
    """Several trials (both models, both losses), and best/: published from the trial's record,
    not trained again, it must be the same train.json and model.pth as a `train` run's."""
    swept_out, doc = swept
    best = next(t for t in doc["trials"] if t["id"] == doc["best"])
    for trial in [*(t for t in doc["trials"][::3] if t["id"] != best["id"]), best]:  # best last
        c = trial["config"]
        out = tmp_path / trial["id"]
        assert main(["train", "--out", str(out), "--log-every", "0", "--model", c["model"],
                     "--lr", repr(c["lr"]), "--loss", c["loss"], "--epochs", str(c["epochs"]),
                     "--seed", str(c["seed"]), "--device", c["device"], "--threads", str(c["threads"])]) == 0
        train_json = json.loads((out / "train.json").read_text())
        assert train_json["final_state"] == trial["final_state"]
        assert train_json["history"][-1]["test_loss"] == trial["final_test_loss"]
        assert train_json["history"][-1]["train_loss"] == trial["final_train_loss"]
    published = json.loads((swept_out / "best" / "train.json").read_text())
    for record in (published, train_json):
        record.pop("environment")
    assert published == train_json  # states, history, predictions: every bit
    ours = torch.load(swept_out / "best" / "model.pth", weights_only=True)
    theirs = torch.load(out / "model.pth", weights_only=True)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_outputs_and_best(swept):
    out, doc = swept
    assert len(doc["trials"]) == 8 and doc["schema"] == "linreg-bench/sweep"
    for name in ("sweep.csv", "summary.md", "test_loss_vs_lr.png", "best_loss_curves.png",
                 "final_parameters.png", "best/model.pth", "best/train.json"):
        assert (out / name).is_file(), name
    best = min((t for t in doc["trials"] if t["status"] == "ok"), key=lambda t: t["final_test_loss"])
    assert doc["best"] == best["id"]
    assert json.loads((out / "best/train.json").read_text())["final_state"] == best["final_state"]
    assert len((out / "sweep.csv").read_text().splitlines()) == 9
    trial = doc["trials"][0]
    assert set(trial["config"]) >= {"model", "loss", "optimizer", "lr", "epochs", "seed", "n", "device"}
    assert trial["abs_weight_error"] == abs(trial["weight"] - 0.7)
    assert "Best:" in (out / "summary.md").read_text()
    run = doc["last_run"]  # where this invocation's time went
    assert run["workers"] == 2 and run["trials_run"] == 8
    assert run["limits"] == {"trial_timeout_s": 3600.0, "child_memory_gib": default_child_memory_gib()}
    assert run["trial_time_s"] == pytest.approx(sum(t["train_time_s"] for t in doc["trials"]), abs=1e-2)
    assert 0 < run["trials_wall_s"] <= run["command_s"] and run["closing_s"] >= 0
    # both stored to the millisecond, and the tests' trials are short: the ratio of the rounded ones is close
    assert run["trials_side_by_side"] == pytest.approx(run["trial_time_s"] / run["trials_wall_s"], rel=0.05)


def test_timeline_splits_trials_from_fixed_costs():
    """A trial started at its arrival less its train_time_s; the phase spans first start to last arrival."""
    timeline = Timeline(workers=2, started=0.0, pool_opened=7.0, closing_started=12.5, closing_ended=13.0,
                        arrivals=[(10.0, 2.0), (11.0, 1.0), (12.0, 2.0)])
    run = timeline.as_json()
    assert (run["worker_start_s"], run["trial_time_s"], run["trials_wall_s"]) == (1.0, 5.0, 4.0)
    assert run["trials_side_by_side"] == 1.25 and run["closing_s"] == 0.5 and run["trials_run"] == 3
    assert "3 trials trained for 5.00 s in 4.00 s on 2 worker(s) (1.25 side by side)" in describe(run)
    empty = Timeline(workers=1).as_json()
    assert empty["trials_wall_s"] is None and describe(empty) == "sweep: no trial to run"
    if sys.platform == "linux":
        age = process_age_s()
        assert age is not None and 0 < age < time.clock_gettime(time.CLOCK_BOOTTIME)


def test_rerun_runs_nothing_and_a_changed_config_is_refused(swept, tmp_path, capsys):
    out, doc = swept
    config = _write(tmp_path, SWEEP)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(["sweep", "--config", str(config), "--out", str(out)]) == 0
    assert "nothing to run, nothing written" in capsys.readouterr().err
    # nothing to do changes nothing: no file rewritten, no machine stamp for trials run elsewhere
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*")) if p.is_file()} == before
    (out / "best_loss_curves.png").unlink()  # an output missing: the closing work runs again
    assert main(["sweep", "--config", str(config), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resuming: 8 of 8" in err and "sweep: no trial to run" in err
    assert json.loads((out / "sweep.json").read_text())["last_run"]["trials_run"] == 0
    assert (out / "best_loss_curves.png").is_file()
    changed = _write(tmp_path, SWEEP.replace("epochs = 30", "epochs = 31"), "changed.toml")
    assert main(["sweep", "--config", str(changed), "--out", str(out)]) == 2
    assert "--restart" in capsys.readouterr().err
    assert json.loads((out / "sweep.json").read_text())["trials"] == doc["trials"]


def test_divergence_is_a_record_not_an_error(tmp_path):
    rc, out = _sweep(tmp_path, "[grid]\nlr = [0.01, 1e30]\n[fixed]\nepochs = 5\n")
    assert rc == 0
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    diverged = [t for t in trials if t["status"] == "diverged"]
    assert len(diverged) == 1 and diverged[0]["diverged_at_epoch"] == 0
    assert diverged[0]["config"]["lr"] == 1e30


@pytest.mark.slow
def test_resume_after_a_kill(tmp_path):
    """SIGKILL mid-sweep keeps the finished trials; the rerun runs only the missing ones."""
    text = "[grid]\nseed = [1, 2, 3, 4, 5, 6, 7, 8]\n[fixed]\nepochs = 3000\n"
    config = _write(tmp_path, text)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.cli", "sweep", "--config", str(config), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "trials").glob("*.json"))) < 2:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name for p in (out / "trials").glob("*.json")}
    assert 2 <= len(kept) < 8
    assert not list((out / "trials").glob(".*.tmp"))  # no half-written trial
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(kept)} of 8" in done.stderr
    assert len(json.loads((out / "sweep.json").read_text())["trials"]) == 8


def test_sampling_is_seeded():
    spec = parse_spec("[grid]\nlr = [0.001, 0.01, 0.1]\nseed = [1, 2, 3]\n[fixed]\nsamples = 4\nsample_seed = 7\n")
    first, again = trial_configs(spec), trial_configs(spec)
    assert len(first) == 4 and first == again


@pytest.mark.parametrize("text,expected", [
    ("[grid]\nlrr = [0.1]\n", "key grid.lrr: unknown key (did you mean 'lr'?)"),
    ("[grid]\nlr = 0.1\n", "key grid.lr: expected a list of values"),
    ("[grid]\nepochs = ['ten']\n", "key grid.epochs[0]: expected an integer"),
    ("[grid]\n", "key grid: is empty"),
    ("[grid]\nlr = []\n", "key grid.lr: is an empty list"),
    ("[grid]\nlr = [-0.1]\n", "key grid.lr[0]: the learning rate must be a positive finite number"),
    ("[grid]\nlr = [0.1]\n[fixed]\nlr = 0.2\n", "key fixed.lr: is also in [grid]"),
    ("[grid]\nlr = [0.1]\n[fixd]\nepochs = 1\n", "key fixd: unknown key (did you mean 'fixed'?)"),
    ("[grid]\nmodel = ['cnn']\n", "key grid.model[0]: 'cnn' is not one of"),
    ("[grid]\nlr = [0.1, 0.2\n", "not valid TOML"),
    ("[grid]\nlr = [0.1]\n[fixed]\nsamples = 5\n", "key samples: 5 is more than the grid's 1"),
])
def test_bad_config_is_one_error_line(tmp_path, capsys, text, expected):
    config = _write(tmp_path, text)
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {config}: ") and expected in err, err
    assert not (tmp_path / "o").exists()


def test_toml_syntax_error_names_the_line(tmp_path, capsys):
    config = _write(tmp_path, "[grid]\nlr = [0.1]\nepochs = = 3\n")
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "line 3" in capsys.readouterr().err


def test_a_grid_over_the_limit_needs_yes(tmp_path, capsys):
    config = _write(tmp_path, "[grid]\nseed = [%s]\n" % ", ".join(map(str, range(300))))
    assert main(["sweep", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "--yes" in capsys.readouterr().err


def test_special_files_are_refused(tmp_path, capsys):
    assert main(["sweep", "--config", "/dev/zero", "--out", str(tmp_path / "o")]) == 2
    assert "not a regular file" in capsys.readouterr().err
