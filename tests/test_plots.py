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


def test_the_limit_is_the_roofline_and_a_point_past_it_is_flagged() -> None:
    """The line is the roofline at each size (a cache-resident size streams faster than DRAM);
    a median past it is returned for the red ring, never silently drawn above its ceiling."""
    from bench.report.plots import FIGURES, beyond_roofline

    latency, throughput = FIGURES["inference"]
    assert all("roofline" in f.floor_name and "copy" not in f.floor_name for fs in FIGURES.values() for f in fs)
    data = {("eager", "cpu"): [(1000, 1e-6, 1e-6, 1e-6), (100_000, 1e-5, 1e-5, 1e-5)]}
    # 8 B/sample: 10^5 samples in 10 us is 80 GB/s; the bound there (its roofline at 40 GB/s) is beaten
    bound_rate = {1000: throughput.floor_of(1000, 40e9), 100_000: throughput.floor_of(100_000, 40e9)}
    assert beyond_roofline(throughput, data, bound_rate) == [(100_000, 1e10)]
    bound_time = {1000: latency.floor_of(1000, 40e9), 100_000: latency.floor_of(100_000, 40e9)}
    assert beyond_roofline(latency, data, bound_time) == [(100_000, 1e-5)]


def test_latency_pictures_are_small_multiples_and_an_honest_tail(tmp_path: Path, monkeypatch) -> None:
    """latency_percentiles.png: one panel per runtime (not 18 lines in one); latency_cdf.png:
    steps between the stored quantiles (no straight line across decades), its unit on the ticks."""
    import matplotlib.figure

    from bench.report.latency_plots import latency_series, plot_cdf, plot_percentiles

    saved: list = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (saved.append(self), real(self, *a, **k))[1])
    results = load_results(Path(__file__).parents[1] / "results" / "reference-cpu" / "results.json")
    data = latency_series(results["measurements"])
    assert len(data) == 6
    plot_percentiles(data, tmp_path / "p.png")
    panels = [ax for ax in saved[0].axes if ax.get_visible() and ax.lines]
    assert len(panels) == 6 and all(len(ax.lines) == 3 for ax in panels)
    plot_cdf(data, tmp_path / "c.png")
    ax = saved[1].axes[0]
    assert all(line.get_drawstyle() == "steps-post" for line in ax.lines)
    assert "(s)" not in ax.get_xlabel()
