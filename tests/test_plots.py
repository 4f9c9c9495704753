"""The benchmark figures: written as real PNGs, only from measured entries, skipped ones left out."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bench.report.plots import LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG, _compact, series, write_plots
from bench.store.results import load_results

GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def golden() -> dict:
    return load_results(GOLDEN)


def test_write_plots_writes_three_pngs(golden: dict, tmp_path: Path) -> None:
    results = copy.deepcopy(golden)
    assert any("skip_reason" in e for e in results["measurements"])  # skipped entries are in the input
    results["measurements"] += [  # a second device draws its own (dashed) series
        dict(e, device="cuda:0") for e in golden["measurements"]
        if e["runtime"] == "eager" and "times_s" in e
    ]
    paths = write_plots(results, tmp_path / "plots")
    assert [p.name for p in paths] == [LATENCY_PNG, THROUGHPUT_PNG, TRAIN_PNG]
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, p
    assert sorted(x.name for x in (tmp_path / "plots").iterdir()) == sorted(p.name for p in paths)


def test_skipped_entries_are_not_series(golden: dict) -> None:
    inference = series(golden["measurements"], "inference", ())
    assert all(device == "cpu" for _, device in inference)
    assert list(inference)[0] == ("eager", "cpu")  # without an order: alphabetical
    eager = series(golden["measurements"], "inference", ("eager",))[("eager", "cpu")]
    assert [b for b, *_ in eager] == [1, 1000, 10**6, 10**7]
    assert all(p25 <= median <= p75 for _, p25, median, p75 in eager)


def test_phases_without_data_write_no_figure(golden: dict, tmp_path: Path) -> None:
    only_train = copy.deepcopy(golden)
    only_train["measurements"] = [e for e in golden["measurements"]
                                  if e["phase"] == "train_epoch" or "skip_reason" in e]
    only_train["floors"] = {}  # no bandwidth floor: no floor line, still a figure
    assert [p.name for p in write_plots(only_train, tmp_path)] == [TRAIN_PNG]
    all_skipped = {"measurements": [e for e in golden["measurements"] if "skip_reason" in e]}
    assert write_plots(all_skipped, tmp_path / "none") == []


def test_tick_labels_are_compact() -> None:
    assert [_compact(t) for t in ("10.0 ms", "1.00 µs", "2.50 ms", "100 k/s", "12.0/s")] == \
        ["10 ms", "1 µs", "2.5 ms", "100 k/s", "12/s"]


def test_a_stale_plot_from_an_earlier_run_is_removed(golden: dict, tmp_path: Path) -> None:
    (tmp_path / LATENCY_PNG).write_bytes(b"old run")
    only_train = copy.deepcopy(golden)
    only_train["measurements"] = [e for e in golden["measurements"] if e["phase"] == "train_epoch"]
    write_plots(only_train, tmp_path)
    assert not (tmp_path / LATENCY_PNG).exists()
    assert (tmp_path / TRAIN_PNG).exists()


def test_floor_lines_belong_to_their_device(golden: dict, tmp_path: Path, monkeypatch) -> None:
    import matplotlib.axes

    labels: list[str] = []
    real_plot = matplotlib.axes.Axes.plot

    def spy(self, *args, **kwargs):
        if "label" in kwargs:
            labels.append(kwargs["label"])
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", spy)
    results = copy.deepcopy(golden)
    extra = copy.deepcopy([e for e in results["measurements"] if e["device"] == "cpu"])
    for e in extra:
        e["device"] = "cuda"
    results["measurements"] += extra
    results["floors"]["device_bandwidth_bytes_per_s"] = {"cpu": 1e10}
    write_plots(results, tmp_path)
    floors = [label for label in labels if "bandwidth" in label]
    assert floors and all(", cpu (" in label for label in floors)  # no floor for cuda: none drawn
