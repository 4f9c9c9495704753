"""The enriched fingerprint: ISA, flags, caches, kernel, load; compared when both files have it."""
from __future__ import annotations

import json

from bench.compare.comparison import fingerprint_diffs
from bench.compare.files import load_bench_file
from bench.store.machine import machine_details


def test_machine_details_fields():
    d = machine_details(load_start=0.5)
    assert d["cpu_isa"] and isinstance(d["cpu_isa"], str)
    assert d["kernel"]
    assert d["loadavg_1m"]["start"] == 0.5 and d["loadavg_1m"]["end"] is not None
    assert set(d["cpu_caches"]) == {"l1d", "l2", "l3"}
    assert (d["cpu_flags_sha256"] is None) == (not d["cpu_flags"])


def _file(tmp_path, name, **env):
    doc = json.loads(open("tests/golden/results_v1.json").read())
    doc["environment"].update(env)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return load_bench_file(path)


def test_enriched_fields_compared_only_when_both_have_them(tmp_path):
    v1 = _file(tmp_path, "v1.json")
    a = _file(tmp_path, "a.json", cpu_isa="AVX512", kernel="6.1", machine_id="m1")
    b = _file(tmp_path, "b.json", cpu_isa="AVX2", kernel="6.1", machine_id="m1")
    assert fingerprint_diffs(v1, a) == []
    assert fingerprint_diffs(a, b) == [("cpu_isa", "AVX512", "AVX2")]
