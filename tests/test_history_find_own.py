"""`history find --own-bench`: each step runs both commits' own `bench`, as backfill does.

Fast: on the fake-bench repository (tests/git_synthetic.py), the plumbing: a commit before the
measured code and a commit whose bench cannot import stop the walk with their reason, two
commits whose runs are the same are "not slower" after two pairs, and the options each mode
takes; the step's sequence of runs (alternating pairs, stopping when decided, at most --pairs)
on scripted figures; a middle commit placed between runs of both ends (rounds of three, the
contrast's sign, nothing placed while the ends do not differ); the walk over every culprit
position with scripted runners. Slow: a
repository carrying this checkout's whole measuring code, one commit of which makes the model's
forward really slower; find --own-bench names it from real runs of each commit's bench."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from tests.git_synthetic import fake_bench_repo
from tests.helpers import one_error_line

KEY = "inference/eager/cpu/1"


def _find(tmp_path: Path, repo: Path, spec: str, *extra: str) -> int:
    from bench.history.store import open_store

    store = open_store(tmp_path / "store", create=True)
    checkpoint = tmp_path / "model.pth"
    checkpoint.write_bytes(b"not read by the fake bench")
    return main(["history", "find", str(store), "--commits", spec, "--repo", str(repo),
                 "--measurement", KEY, "--own-bench", "--checkpoint", str(checkpoint), *extra])


def test_runs_that_measured_the_same_are_not_a_step(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    assert _find(tmp_path, repo, f"{hashes[2]}..{hashes[4]}", "--quick") == 1
    out = capsys.readouterr().out
    assert "own `bench --quick`" in out
    assert out.count("s own bench in") == 4          # two pairs decide it: nothing more
    assert ("1.000x [1.000, 1.000] p=1 (2 pairs of runs, Welch's t on each run's median of draw "
            "medians): not slower") in out
    assert "find: no step beyond the threshold in the range" in out


@pytest.mark.parametrize("ends, reason", [
    ((1, 3), "predates the measured code"),
    ((2, 3), "no results.json written"),
])
def test_a_commit_that_cannot_run_names_why_and_names_no_commit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], ends: tuple[int, int], reason: str) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    assert _find(tmp_path, repo, f"{hashes[ends[0]]}..{hashes[ends[1]]}") == 1
    out = capsys.readouterr().out
    assert "failed (" in out and reason in out and "found:" not in out


def _scripted(figures: dict[str, list[float]], ran: list[str]):
    """measure(commit) for paired_runs: the next scripted time of that commit, logged."""
    from bench.history.own_bench import RunFigure

    def measure(commit):
        ran.append(commit.short)
        return RunFigure(figures[commit.short].pop(0)), ""
    return measure


def _ends() -> tuple:
    from bench.history.commits import Commit
    return (Commit("a" * 40, "2026-12-07T00:00:00+00:00", (), "base", 1),
            Commit("b" * 40, "2026-12-07T00:00:01+00:00", ("a" * 40,), "new", 2))


@pytest.mark.parametrize("base_us, new_us, runs, outcome", [
    ([100, 102, 99, 101], [150, 149, 152, 151], 4, "slower"),          # decided after 2 pairs
    ([100, 102, 99, 101], [101, 100, 102, 99], 4, "not slower"),
    ([100, 130, 90, 120, 95, 125, 100, 110], [115, 100, 140, 105, 120, 98, 111, 130], 8,
     "inconclusive"),                                                   # still open after 4 pairs
])
def test_a_step_runs_alternating_pairs_until_decided(base_us: list[float], new_us: list[float],
                                                     runs: int, outcome: str) -> None:
    import bench.history.own_bench as find
    from bench.compare.gate import MedianGate

    base, new = _ends()
    ran: list[str] = []
    figures = {"aaaaaaaaaa": [v * 1e-6 for v in base_us], "bbbbbbbbbb": [v * 1e-6 for v in new_us]}
    result = find.paired_runs(_scripted(figures, ran), MedianGate(0.10), pairs=4)(base, new)
    assert result.outcome == outcome
    assert ran == ["aaaaaaaaaa", "bbbbbbbbbb", "bbbbbbbbbb", "aaaaaaaaaa",
                   "aaaaaaaaaa", "bbbbbbbbbb", "bbbbbbbbbb", "aaaaaaaaaa"][:runs]
    assert result.stats is not None and result.stats.n_base == result.stats.n_new == runs // 2
    assert f"{runs // 2} pairs of runs, Welch's t" in result.describe()
    assert ("pairs would decide it" in result.note) == (outcome == "inconclusive")


def test_an_undecided_step_says_how_many_pairs_would_decide_it() -> None:
    """The interval's half-width shrinks as 1/sqrt(pairs): 4 pairs at ratio 1.0 [0.833, 1.2]
    need 4 * (log 1.2 / log 1.1)^2 = 14.6, so 15 pairs, to fit under a 10% threshold."""
    import bench.history.own_bench as find
    from bench.compare.gate import MedianGate
    from bench.compare.significance import RatioStats

    wide = RatioStats(1.0, 1 / 1.2, 1.2, 0.9, 4, 4, 0.0)
    assert find.pairs_to_decide(wide, MedianGate(0.10), 4).endswith("about 15 pairs would decide it")
    on_it = RatioStats(1.1, 1.0, 1.21, 0.04, 4, 4, 0.0)
    assert "no number of pairs" in find.pairs_to_decide(on_it, MedianGate(0.10), 4)


def test_a_run_without_a_figure_fails_the_step_with_its_reason() -> None:
    import bench.history.own_bench as find
    from bench.compare.gate import MedianGate

    base, new = _ends()
    answers = iter([(find.RunFigure(1e-4), ""), (None, "bbbbbbbbbb: no results.json written")])
    result = find.paired_runs(lambda c: next(answers), MedianGate(0.10))(base, new)
    assert result.outcome == find.FAILED and result.note == "bbbbbbbbbb: no results.json written"


def test_a_step_reads_host_ratios_where_every_run_has_one_of_one_kind() -> None:
    """compare's figure within one environment: the runs' host ratios where all have one against
    one reference kind; a run without one, or two kinds, and the whole step reads times."""
    from bench.history.own_bench import RATIOS, TIMES, RunFigure, step_values

    a, b = RunFigure(1e-4, 1.5, "autograd"), RunFigure(2e-4, 1.6, "autograd")
    assert step_values(([a, a], [b, b])) == ([[1.5, 1.5], [1.6, 1.6]], RATIOS)
    assert step_values(([a, RunFigure(1e-4)], [b, b])) == ([[1e-4, 1e-4], [2e-4, 2e-4]], TIMES)
    other = RunFigure(2e-4, 1.6, "dispatch")
    assert step_values(([a, a], [b, other])) == ([[1e-4, 1e-4], [2e-4, 2e-4]], TIMES)


@pytest.mark.parametrize("usable", [True, False])
def test_a_runs_figure_is_its_time_and_its_usable_host_ratio(usable: bool) -> None:
    import statistics

    from bench.history.own_bench import run_figure
    from tests.test_compare import results_doc
    from tests.test_compare_load import _with_draws

    doc = _with_draws(results_doc(0), 1.0, 1.0, usable=usable)
    m = doc["measurements"][0]
    key = f"{m['phase']}/{m['runtime']}/{m['device']}/{m['batch_size']}"
    figure, why = run_figure(doc, key, "a run")
    assert why == "" and figure is not None
    assert figure.time_s == statistics.median(m["estimate"]["draw_medians_s"])
    assert figure.ratio == (statistics.median(m["estimate"]["host"]["draw_ratios"]) if usable else None)


def _three() -> tuple:
    from bench.history.commits import Commit
    return tuple(Commit(c * 40, f"2026-12-07T00:00:0{i}+00:00", (), name, i + 1)
                 for i, (c, name) in enumerate((("a", "good"), ("c", "middle"), ("b", "bad"))))


@pytest.mark.parametrize("middle_us, rounds, outcome", [
    ([101, 99, 100, 102], 2, "like the good end"),     # placed after 2 rounds
    ([149, 151, 150, 152], 2, "like the bad end"),
    ([120, 125, 118, 128, 119, 126, 122, 124], 4, "inconclusive"),   # halfway: never placed
])
def test_a_middle_commit_is_placed_between_runs_of_both_ends(middle_us: list[float], rounds: int,
                                                              outcome: str) -> None:
    import bench.history.own_bench as own

    good, middle, bad = _three()
    ran: list[str] = []
    figures = {"aaaaaaaaaa": [v * 1e-6 for v in (100, 102, 99, 101, 100, 101, 99, 102)],
               "cccccccccc": [v * 1e-6 for v in middle_us],
               "bbbbbbbbbb": [v * 1e-6 for v in (150, 149, 152, 151, 150, 148, 151, 150)]}
    result = own.placed_runs(_scripted(figures, ran), rounds=4)(good, middle, bad)
    assert result.outcome == outcome
    order = ["aaaaaaaaaa", "cccccccccc", "bbbbbbbbbb", "bbbbbbbbbb", "cccccccccc", "aaaaaaaaaa"]
    assert ran == (order * 2)[:3 * rounds]
    assert f"{rounds} rounds of runs, Welch's t" in result.describe()
    assert result.ends is not None and result.ends.ratio == pytest.approx(1.5, rel=0.02)
    assert ("rounds would place it" in result.note or "midpoint" in result.note) == (outcome == "inconclusive")


def test_nothing_is_placed_while_the_ends_do_not_differ() -> None:
    import bench.history.own_bench as own

    good, middle, bad = _three()
    figures = {"aaaaaaaaaa": [1e-4, 1.02e-4, 0.99e-4, 1.01e-4], "cccccccccc": [0.8e-4, 0.81e-4, 0.79e-4, 0.8e-4],
               "bbbbbbbbbb": [1.01e-4, 1e-4, 1.02e-4, 0.99e-4]}
    result = own.placed_runs(_scripted(figures, []), rounds=2)(good, middle, bad)
    assert result.outcome == "inconclusive" and "the ends did not differ here" in result.note
    assert "tell the ends apart" in result.note or "the ends measured alike" in result.note


def test_undecided_ends_say_how_many_rounds_would_tell_them_apart() -> None:
    """The real walk's middle step (results/history-self/find-walk.txt): after 8 rounds the ends
    read 1.110x [0.923, 1.334]; 8 * (log(1.334 / 1.110) / log 1.110)^2 = 24.8, so 25 rounds."""
    import bench.history.own_bench as own
    from bench.compare.significance import RatioStats

    walk = RatioStats(1.110, 0.923, 1.334, 0.25, 8, 8, 0.0)
    assert own.rounds_to_separate(walk, 8).endswith("about 25 rounds would tell the ends apart")
    assert "measured alike" in own.rounds_to_separate(RatioStats(0.98, 0.9, 1.07, 0.6, 8, 8, 0.0), 8)


def _walk_runners(culprit: int, log: list[str]):
    """Scripted ends and middle runners over commits named by their index: the step lies at `culprit`."""
    import bench.history.own_bench as own
    from bench.compare.runs import welch_log_ratio

    slow = lambda c: int(c.sha, 16) >= culprit  # noqa: E731
    stats = welch_log_ratio([1.0, 1.02], [1.3, 1.31], 0.95)

    def ends(base, new):
        log.append(f"ends {int(base.sha, 16)} {int(new.sha, 16)}")
        if slow(new) and not slow(base):
            return find_result(own.SLOWER, stats)
        return find_result(own.NOT_SLOWER, welch_log_ratio([1.0, 1.02], [1.0, 1.01], 0.95))

    def place(good, middle, bad):
        log.append(f"place {int(middle.sha, 16)}")
        figures = ([1.0, 1.01], [1.3, 1.31] if slow(middle) else [1.0, 1.02], [1.3, 1.29])
        return own.placement(*figures, 0.05, "2 rounds of runs, Welch's t")
    return ends, place


def find_result(outcome: str, stats):
    from bench.history.find import StepResult
    return StepResult(outcome, stats, "2 pairs of runs, Welch's t")


@pytest.mark.parametrize("culprit", range(1, 16))
def test_the_walk_names_every_culprit_in_log2_steps(culprit: int) -> None:
    import bench.history.own_bench as own
    from tests.test_history_find import _commits

    line, log, said = _commits(16), [], []
    ends, place = _walk_runners(culprit, log)
    assert own.bisect_runs(line[0], line[1:], ends, place, said.append) == 0
    assert said[-2] == f"found: {line[culprit].sha} commit {culprit}"
    assert log[0] == "ends 0 15" and len(log) <= own.max_steps(15) == 5
    placed = [s for s in said if s.startswith("step") and s.endswith("between") is False and " between " in s]
    assert len(placed) == len(log) - 1 and all(own.LIKE_GOOD in s or own.LIKE_BAD in s for s in placed)


def test_the_walk_stops_at_an_undecided_middle_and_when_there_is_no_step() -> None:
    import bench.history.own_bench as own
    from tests.test_history_find import _commits

    line, said = _commits(8), []
    ends, _ = _walk_runners(3, [])
    undecided = lambda g, m, b: own.placement([1.0, 1.01], [1.14, 1.15], [1.3, 1.29], 0.05, "halfway")  # noqa: E731
    assert own.bisect_runs(line[0], line[1:], ends, undecided, said.append) == 1
    assert said[-1].startswith("find: not narrowing past an undecided middle (inconclusive)")
    assert said[-1].endswith("(7 commits)")
    said.clear()
    ends, place = _walk_runners(99, [])
    assert own.bisect_runs(line[0], line[1:], ends, place, said.append) == 1
    assert said[-1] == "find: no step beyond the threshold in the range"


def test_each_mode_takes_its_own_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo, hashes = fake_bench_repo(tmp_path / "repo")
    spec = f"{hashes[2]}..{hashes[4]}"
    assert _find(tmp_path, repo, spec, "--rounds", "20") == 2
    one_error_line(capsys, "--rounds is not an option of history find --own-bench")
    assert main(["history", "find", str(tmp_path / "store"), "--commits", spec, "--repo", str(repo),
                 "--measurement", "infer_eager_1", "--quick"]) == 2
    one_error_line(capsys, "--quick is not an option of history find")
    assert main(["history", "find", str(tmp_path / "store"), "--commits", spec, "--repo", str(repo),
                 "--measurement", "infer_eager_1", "--own-bench"]) == 2
    one_error_line(capsys, "--own-bench takes a history key")
    assert _find(tmp_path, repo, spec, "--pairs", "1") == 2
    one_error_line(capsys, "--pairs 1: a step needs at least 2 pairs of runs")


@pytest.mark.slow
def test_own_bench_names_the_commit_that_made_the_model_slower(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """5 commits of this checkout's measuring code; commit 3 adds ~20 us of interpreter work to
    every ~7 us forward call (about 3x, as the interleaved test's). The ends are pairs of real
    `bench` runs (one runtime at batch 1, 18 draws each), each middle commit rounds of three runs
    between them, and find names commit 3 in 1 + ceil(log2 4) = 3 steps. On the AMD VM every
    step read host ratios (0.24-0.26 against 0.58-0.62, where the runs' times moved 8.4-14.8 us
    against 19-36 us) and was decided at its minimum, 2 pairs and 2 rounds twice: 16 runs, 14
    minutes (twice), where the walk that asked "not slower" of each middle commit took 4 steps,
    20 runs and 21-25 minutes. The transcript is printed (pytest -s shows it)."""
    from bench.history.store import open_store
    from tests.git_synthetic import measuring_repo

    repo, hashes = measuring_repo(tmp_path / "repo", culprit=3, spin=800, commits=5)
    store = open_store(tmp_path / "store", create=True)
    code = main(["history", "find", str(store), "--commits", f"{hashes[0]}..{hashes[-1]}",
                 "--repo", str(repo), "--measurement", KEY, "--own-bench", "--runtimes", "eager",
                 "--variants", "eager", "--batch-sizes", "1", "--train-sizes", "40"])
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    assert f"found: {hashes[3]} commit 3: the slowdown" in out
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    # the ends in 2 to 6 pairs of runs, each middle commit in 2 to 6 rounds of three
    assert len(steps) == 3
    assert 4 + 6 * 2 <= out.count("s own bench in") <= 12 + 18 * 2
