"""Benchmark knobs are checked before any device work (edgebert.devices.settings).

A bad --runs or --runner found only after pushing bundles to a phone wastes minutes; each
mistake must be one line naming the flag and, where it helps, the fix.
"""

from __future__ import annotations

import pytest

from edgebert.devices.base import DeviceError
from edgebert.devices.settings import BenchSettings


@pytest.mark.parametrize("kwargs, says", [
    ({"runs": 0}, "--runs must be at least 1 (got 0)"),
    ({"runs": -3}, "--runs must be at least 1 (got -3)"),
    ({"min_seconds": -0.5}, "--min-seconds and --warmup cannot be negative"),
    ({"warmup": -1}, "--min-seconds and --warmup cannot be negative"),
    ({"threads": 0}, "--threads must be at least 1 (got 0) (omit it for the runtime default)"),
    ({"threads": -2}, "--threads must be at least 1 (got -2)"),
    ({"runner": "gpu"}, "unknown --runner gpu (use one of auto, python, native)"),
    ({"runner": "Native"}, "unknown --runner Native"),
    ({"timeout": 0}, "--timeout must be positive"),
    ({"timeout": -1.0}, "--timeout must be positive"),
])
def test_each_bad_value_is_one_line(kwargs, says):
    with pytest.raises(DeviceError) as info:
        BenchSettings(**kwargs).validate()
    err = info.value
    assert "\n" not in err.message and "\n" not in (err.hint or "")
    assert err.one_line().startswith(says)
    assert err.exit_code == 2  # a user mistake, not a crash


@pytest.mark.parametrize("where", ["absent", "folder"])
def test_benchmark_model_must_be_a_file(tmp_path, where):
    path = tmp_path / "benchmark_model"
    if where == "folder":
        path.mkdir()
    with pytest.raises(DeviceError) as info:
        BenchSettings(benchmark_model=path).validate()
    assert info.value.one_line() == (f"--benchmark-model {path} is not a file (pass the path of TFLite's "
                                     "benchmark_model binary built for the device)")


def test_good_values_pass_unchanged(tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    for s in (BenchSettings(), BenchSettings(runs=1, min_seconds=0, warmup=0, threads=1, timeout=0.5),
              BenchSettings(runner="python"), BenchSettings(runner="native", benchmark_model=binary)):
        before = s.to_dict()
        assert s.validate() is s and s.to_dict() == before
