"""Never destroy what is not ours: -o FILE and --out DIR refuse devices, FIFOs, links, users' folders."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.helpers import one_error_line

from bench.cli import main
from linreg.destinations import OWNER_MARKER, check_output_file, claim_folder, inside
from linreg.files import UnsafeDestinationError, write_text_atomic
from tests.history_synthetic import results_doc, utc

GOLDEN = Path(__file__).parent / "golden" / "results_v1.json"


def special_files(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a symlink (to a file of its own), and a character device where we may make one."""
    made = {"fifo": tmp_path / "fifo", "symlink": tmp_path / "link"}
    os.mkfifo(made["fifo"])
    (tmp_path / "victim.txt").write_text("keep me\n")
    made["symlink"].symlink_to(tmp_path / "victim.txt")
    try:  # /dev/null's numbers; needs root (CAP_MKNOD), as the campaign ran
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        made["chardev"] = tmp_path / "null"
    except (PermissionError, OSError):
        pass
    return made


def unchanged(path: Path, kind: str, tmp_path: Path) -> bool:
    st = os.lstat(path)
    test = {"fifo": stat.S_ISFIFO, "symlink": stat.S_ISLNK, "chardev": stat.S_ISCHR}[kind]
    return test(st.st_mode) and (tmp_path / "victim.txt").read_text() == "keep me\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import random

    root = tmp_path_factory.mktemp("store") / "store"
    keys = {("inference", "eager", 1): 5e-6}
    files = []
    for minute in range(2):
        path = root.parent / f"run{minute}.json"
        path.write_text(json.dumps(results_doc("box-a", f"{minute:x}" * 40, utc(minute), keys,
                                               random.Random(minute), samples=10)))
        files.append(str(path))
    assert main(["history", "add", str(root), *files]) == 0
    return root


def commands_with_o(store: Path) -> dict[str, list[str]]:
    return {"compare": ["compare", str(GOLDEN), str(GOLDEN)],
            "report": ["report", str(GOLDEN)],
            "history": ["history", str(store), "--export", "bmf"]}


@pytest.mark.parametrize("command", ["compare", "report", "history"])
def test_o_refuses_special_files_and_links(command: str, store: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = commands_with_o(store)[command]
    for kind, path in special_files(tmp_path).items():
        capsys.readouterr()
        assert main([*argv, "-o", str(path)]) == 2, kind
        one_error_line(capsys, str(path), "refusing to replace")
        assert unchanged(path, kind, tmp_path), kind
    regular = tmp_path / "out.txt"
    regular.write_text("old")
    assert main([*argv, "-o", str(regular)]) in (0, 1)  # a regular file is ours to replace
    assert regular.read_text() != "old"


def test_every_atomic_write_refuses_a_swapped_in_special_file(tmp_path: Path) -> None:
    for kind, path in special_files(tmp_path).items():
        with pytest.raises(UnsafeDestinationError):
            write_text_atomic(path, "x")
        assert unchanged(path, kind, tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left beside them


def test_history_site_refuses_a_symlink(store: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    link = tmp_path / "site"
    link.symlink_to(target)
    capsys.readouterr()
    assert main(["history", str(store), "--out", str(link)]) == 2
    one_error_line(capsys, "symlink")
    assert link.is_symlink() and target.is_dir() and not any(target.iterdir())


def test_history_add_stays_inside_the_store(store: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import random, shutil

    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    outside = tmp_path / "outside"
    outside.mkdir()
    (copy / "box-b").symlink_to(outside)
    run = tmp_path / "run.json"
    run.write_text(json.dumps(results_doc("box-b", "c" * 40, utc(9), {("inference", "eager", 1): 5e-6},
                                          random.Random(9), samples=10)))
    capsys.readouterr()
    assert main(["history", "add", str(copy), str(run)]) == 2
    one_error_line(capsys, "box-b", "outside")
    assert not any(outside.iterdir())
    with pytest.raises(UnsafeDestinationError):
        inside(copy, copy / "box-b", "machine folder")


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "summary.md").write_text("my notes\n")
    return folder


def test_train_refuses_a_users_folder_and_reuses_its_own(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = user_folder(tmp_path)
    assert main(["train", "--epochs", "1", "--device", "cpu", "--log-every", "0", "--out", str(folder)]) == 2
    one_error_line(capsys, str(folder), "did not write")
    assert sorted(p.name for p in folder.iterdir()) == ["summary.md"]
    out = tmp_path / "t"
    assert main(["train", "--epochs", "1", "--device", "cpu", "--log-every", "0", "--out", str(out)]) == 0
    assert (out / OWNER_MARKER).is_file() and (out / "model.pth").is_file()
    (out / OWNER_MARKER).unlink()  # a folder from before the marker: train.json says it is ours
    assert main(["train", "--epochs", "1", "--device", "cpu", "--log-every", "0", "--out", str(out)]) == 0


def test_sweep_refuses_a_users_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = user_folder(tmp_path)
    config = tmp_path / "sweep.toml"
    config.write_text('[grid]\nlr = [0.01]\n[fixed]\nepochs = 1\n')
    assert main(["sweep", "--config", str(config), "--out", str(folder), "--jobs", "1"]) == 2
    one_error_line(capsys, str(folder), "did not write")
    assert (folder / "summary.md").read_text() == "my notes\n" and len(list(folder.iterdir())) == 1


@pytest.mark.parametrize("command", ["bench", "run"])
def test_bench_and_run_refuse_a_users_folder(command: str, tmp_path: Path, checkpoint: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = user_folder(tmp_path)
    source = ["--checkpoint", str(checkpoint)] if command == "bench" else []
    assert main([command, "--smoke", "--out", str(folder), *source]) == 2
    one_error_line(capsys, str(folder), "did not write")
    assert sorted(p.name for p in folder.iterdir()) == ["summary.md"]


def test_claim_folder_rules(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeDestinationError):
        claim_folder(tmp_path / "file", "bench")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "results.json").write_text("[]")  # not ours: a list, not our record
    with pytest.raises(UnsafeDestinationError):
        claim_folder(legacy, "bench", lambda f: False)
    assert claim_folder(tmp_path / "new" / "deep", "bench") == tmp_path / "new" / "deep"
    assert check_output_file(tmp_path / "absent") == tmp_path / "absent"


@pytest.mark.parametrize("command", ["ddp", "loadgen"])
def test_ddp_and_loadgen_refuse_a_users_folder(command: str, tmp_path: Path, exported: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = user_folder(tmp_path)
    argv = {"ddp": ["ddp", "--world-sizes", "1", "--n", "40"],
            "loadgen": ["loadgen", "--export-dir", str(exported), "--runtime", "eager",
                        "--scenario", "single-stream"]}[command]
    assert main([*argv, "--out", str(folder)]) == 2
    one_error_line(capsys, str(folder), "did not write")
    assert sorted(p.name for p in folder.iterdir()) == ["summary.md"]


def test_debris_of_killed_writers_is_removed_by_the_next_write(store: Path, tmp_path: Path) -> None:
    """kill -9 during an atomic write, `history add` or `history --out` leaves temporaries
    named by their pid; the next write of the same target removes those of dead processes."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    target = tmp_path / "summary.md"
    stale, live = tmp_path / f".summary.md.{dead}.abcd1234.tmp", tmp_path / f".summary.md.{os.getppid()}.abcd1234.tmp"
    stale.write_text("half")
    live.write_text("being written")
    write_text_atomic(target, "new\n")
    assert not stale.exists() and live.exists() and target.read_text() == "new\n"
    site_debris = tmp_path / f".site.{dead}.abcd1234.tmp"
    site_debris.mkdir()
    assert main(["history", str(store), "--out", str(tmp_path / "site")]) == 0
    assert not site_debris.exists() and (tmp_path / "site" / "index.html").is_file()
