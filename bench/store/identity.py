"""Who measured and which run: a stable machine id and a unique run id.

The machine id names a folder in the history store (`DIR/<machine-id>/`), so it must be stable
across runs, reboots and checkouts, and safe as one path component. It is a hash of what
identifies the host (systemd's machine id, the DMI product UUID where readable) together with
what identifies its CPU (model name, ISA flags, CPU count): a VM moved to another CPU kind gets
a new id, as it should, since its numbers change. Images cloned without regenerating
/etc/machine-id share it; LINREG_BENCH_MACHINE_ID names a machine explicitly (asv's `--machine`).

The run id is written into every results.json; `history add` recognises a run by it.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import uuid
from pathlib import Path

MACHINE_ID_ENV = "LINREG_BENCH_MACHINE_ID"
# One path component on every file system we care about: no separators, no leading dot or dash.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id", "/sys/class/dmi/id/product_uuid")


class IdentityError(ValueError):
    """An id that is not safe as a file name component."""


def check_id(value: object, what: str = "machine id") -> str:
    """`value` if it is a safe, non-empty path component of at most 64 characters; else IdentityError."""
    if not isinstance(value, str) or _SAFE_ID.fullmatch(value) is None:
        raise IdentityError(
            f"{what} {value!r} is not a plain name (letters, digits, '.', '_', '-'; at most 64; "
            "no path characters)")
    return value


def _read_first(path: str) -> str:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:  # absent, or root-only (DMI)
        return ""


def _cpu_identity() -> list[str]:
    """Model name and flags of the first CPU in /proc/cpuinfo (platform's guess elsewhere)."""
    model = flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "cpu model") and not model:
                model = value.strip()
            elif key in ("flags", "Features", "isa") and not flags:
                flags = " ".join(sorted(value.split()))
            if model and flags:
                break
    except OSError:
        pass
    return [model or platform.processor() or platform.machine(), flags, str(os.cpu_count())]


def identity_sources() -> dict[str, str]:
    """What the machine id is hashed from (values are stored only as part of the hash)."""
    sources = {path: value for path in _HOST_ID_FILES if (value := _read_first(path))}
    if not sources:  # no machine id anywhere: the MAC address is the next most stable thing
        sources["uuid.getnode"] = f"{uuid.getnode():012x}"
    model, flags, count = _cpu_identity()
    sources.update({"cpu_model": model, "cpu_flags": flags, "cpu_count": count,
                    "arch": platform.machine()})
    return sources


def machine_id() -> str:
    """This machine's stable id: $LINREG_BENCH_MACHINE_ID, or a 16-hex-digit hash of its identity."""
    explicit = os.environ.get(MACHINE_ID_ENV, "").strip()
    if explicit:
        return check_id(explicit, f"${MACHINE_ID_ENV}")
    return _hashed_machine_id()


@functools.cache
def _hashed_machine_id() -> str:
    digest = hashlib.sha256()
    for key, value in sorted(identity_sources().items()):
        digest.update(f"{key}={value}\n".encode("utf-8", "replace"))
    return digest.hexdigest()[:16]


def new_run_id() -> str:
    """A fresh, unique run id (random UUID, hex): two runs never share one, even on one machine."""
    return uuid.uuid4().hex
