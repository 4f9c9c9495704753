"""The history store: one results.json per run under DIR/<machine-id>/, written so writers never conflict.

Layout (asv's model: a folder that git or any shared file system carries for a whole fleet):

    DIR/linreg-bench-history.json               marks the folder as a store (format, version)
    DIR/<machine-id>/machine.json               the machine, described once (first writer wins)
    DIR/<machine-id>/<UTC time>_<commit>_<run id>.json   a run's results.json, byte for byte

A run's file name is a function of the run alone, and it is published with link(2), which fails
instead of replacing: two machines, or two runs on one machine, never touch each other's file, and
the same run added twice (or by two processes at once) is stored once.
"""
from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.store.identity import IdentityError, check_id, identity_sources, machine_id
from linreg.destinations import inside
from linreg.errors import LinregError
from linreg.files import default_mode, remove_stale_temps, temp_prefix
from linreg.untrusted import load_json

STORE_MARKER = "linreg-bench-history.json"
STORE_FORMAT = {"format": "linreg-bench history store", "version": 1}
MACHINE_JSON = "machine.json"
MIN_YEAR = 1970   # no benchmark run predates the epoch; earlier years are a forged or broken clock
MAX_RUN_BYTES = 64 * 1024 * 1024  # a full run is ~0.3 MB; anything this big is not one
_RUN_NAME = re.compile(r"(\d{8}T\d{6}Z)_([A-Za-z0-9-]+)_([A-Za-z0-9][A-Za-z0-9._-]{0,63})\.json")


class StoreError(LinregError):
    """A history folder that is not a store, or a run that cannot be filed in one."""


@dataclass(frozen=True)
class FiledRun:
    path: Path
    machine: str
    run_id: str
    added: bool      # False: the store already held this run (idempotent add)


def open_store(directory: str | Path, create: bool = False) -> Path:
    """The store at `directory`; with `create`, a new or empty folder (hidden files aside) becomes one."""
    root = Path(directory)
    marker = root / STORE_MARKER
    if marker.is_file():
        _check_marker(marker)
        return root
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root}: not a folder, so not a history store")
    if not create:
        why = "no such folder" if not root.exists() else f"no {STORE_MARKER}"
        raise StoreError(f"{root}: not a linreg-bench history store ({why})")
    visible = [p.name for p in root.iterdir() if not p.name.startswith(".")] if root.exists() else []
    if visible:
        raise StoreError(f"{root}: not a linreg-bench history store (no {STORE_MARKER}) and not "
                         f"empty ({', '.join(sorted(visible)[:3])}); give a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    _publish_once(marker, json.dumps(STORE_FORMAT, indent=2) + "\n")
    return root


def _check_marker(marker: Path) -> None:
    data = load_json(marker, max_bytes=4096)
    if not isinstance(data, dict) or data.get("format") != STORE_FORMAT["format"]:
        raise StoreError(f"{marker}: not a linreg-bench history store marker")
    if data.get("version") != STORE_FORMAT["version"]:
        raise StoreError(f"{marker}: store version {data.get('version')!r} is not one this "
                         f"linreg-bench reads ({STORE_FORMAT['version']})")


def run_id_of(results: dict[str, Any]) -> str:
    """The run id a results.json carries; files from before run ids get one from their content."""
    run_id = results.get("run_id")
    if run_id is not None:
        return check_id(run_id, "run_id")
    canonical = json.dumps(results, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def machine_of(results: dict[str, Any], override: str | None = None) -> str:
    """The machine id to file a run under: `override`, else environment.machine_id."""
    if override is not None:
        return check_id(override, "--machine")
    env = results.get("environment")
    value = env.get("machine_id") if isinstance(env, dict) else None
    if value is None:
        raise StoreError("no environment.machine_id (made by a linreg-bench without machine ids); "
                         "give --machine NAME")
    return check_id(value, "environment.machine_id")


def commit_of(results: dict[str, Any]) -> tuple[str, bool]:
    """(commit hash or "", dirty) from environment.git."""
    env = results.get("environment")
    git = env.get("git") if isinstance(env, dict) else None
    if not isinstance(git, dict) or not isinstance(git.get("commit"), str):
        return "", False
    return git["commit"], bool(git.get("dirty"))


def run_filename(results: dict[str, Any], run_id: str) -> str:
    """<UTC time>_<commit12>[-dirty]_<run id>.json: sorts by time, names the commit."""
    created = str(results.get("created_utc", ""))
    try:
        parsed = dt.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise StoreError(f"created_utc {created[:40]!r} is not a UTC time like "
                         "2026-11-28T21:55:30Z") from None
    if parsed.year < MIN_YEAR:  # strftime writes year 1 as "1": a name the reader would skip
        raise StoreError(f"created_utc {created!r} is before {MIN_YEAR}; not a time a run was made")
    when = f"{parsed.year:04d}{parsed.strftime('%m%dT%H%M%SZ')}"
    commit, dirty = commit_of(results)
    commit = re.sub(r"[^0-9a-f]", "", commit.lower())[:12] or "nocommit"
    return f"{when}_{commit}{'-dirty' if dirty else ''}_{run_id}.json"


def parse_run_filename(name: str) -> tuple[str, str, str] | None:
    """(time, commit, run id) of a run file's name, or None for anything else."""
    match = _RUN_NAME.fullmatch(name)
    return None if match is None else (match.group(1), match.group(2), match.group(3))


def _publish_once(target: Path, text: str) -> bool:
    """Write `text` to `target` unless it exists: temp file, fsync, link(2). False if it existed."""
    remove_stale_temps(target)  # what a writer killed by kill -9 left
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_mode())
        try:
            os.link(tmp, target)  # atomic, and never replaces: the first writer wins
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV):
                raise
            if target.exists():  # a file system without hard links: rename, after a last check
                return False
            os.replace(tmp, target)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


def machine_description(results: dict[str, Any], machine: str) -> dict[str, Any]:
    """machine.json: what a reader of the store wants to know about a machine, from its first run."""
    env = results.get("environment") if isinstance(results.get("environment"), dict) else {}
    keep = ("cpu_model", "cpu_count", "machine", "platform", "gpu_name", "gpu_names", "gpu_count",
            "gpu_driver", "cpu_capability", "cpu_flags", "cache_sizes", "kernel")
    described = {k: env[k] for k in keep if k in env}
    here = env.get("machine_id") == machine and machine_of_this_host() == machine
    return {"machine_id": machine, **described,
            "hostname": platform.node() if here else None,
            "id_sources": sorted(identity_sources()) if here else None,
            "first_run_utc": results.get("created_utc")}


def machine_of_this_host() -> str | None:
    try:
        return machine_id()
    except IdentityError:
        return None


def place_of(results: dict[str, Any], machine: str | None = None) -> tuple[str, str, str]:
    """(machine id, run id, file name) a run would be filed under; StoreError if it cannot be."""
    try:
        run_id = run_id_of(results)
        machine_name = machine_of(results, machine)
    except IdentityError as exc:
        raise StoreError(str(exc)) from None
    return machine_name, run_id, run_filename(results, run_id)


def _machine_folder(store: Path, folder: Path) -> Path:
    """`folder` resolved, refused unless it is a folder right inside the (resolved) store: a
    symlinked machine folder must not carry a run, or machine.json, out of the store."""
    real = inside(store, folder, "machine folder")
    if real.parent != store.resolve() or not real.is_dir():
        raise StoreError(f"machine folder {folder} resolves to {real}, not a folder of the store "
                         f"{store}; refusing to write there")
    return real


def file_run(store: Path, results: dict[str, Any], machine: str | None = None,
             raw: bytes | None = None) -> FiledRun:
    """File one run (a validated results document; `raw` its file's bytes) into the store."""
    machine_name, run_id, name = place_of(results, machine)
    folder = store / machine_name
    existing = next(iter(store.glob(f"*/*_{run_id}.json")), None)
    if existing is not None:
        return FiledRun(existing, existing.parent.name, run_id, False)
    if not folder.is_symlink() and not folder.exists():
        folder.mkdir()
    real = _machine_folder(store, folder)
    if not (real / MACHINE_JSON).exists():
        _publish_once(real / MACHINE_JSON,
                      json.dumps(machine_description(results, machine_name), indent=2) + "\n")
    text = raw.decode("utf-8") if raw is not None else json.dumps(results, indent=2) + "\n"
    added = _publish_once(real / name, text)
    return FiledRun(folder / name, machine_name, run_id, added)
