"""Costly results kept on disk (edgebert.disk_cache).

A hit must really skip the computation (that is the minutes a sweep saves), a different
input must never be served another input's result, and a damaged entry must cost only a
recomputation.
"""

from __future__ import annotations

import time

import pytest
import torch

from edgebert import disk_cache
from edgebert.disk_cache import cached_json, cached_tensor


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path))
    return tmp_path


class Compute:
    """A computation that counts its calls and returns a value that depends on its input."""

    def __init__(self, tag: str):
        self.tag, self.calls = tag, 0

    def tensor(self) -> torch.Tensor:
        self.calls += 1
        g = torch.Generator().manual_seed(sum(map(ord, self.tag)))
        return torch.randn(3, 4, generator=g)

    def json(self) -> dict:
        self.calls += 1
        return {"tag": self.tag, "accuracy": 0.8125, "rows": [1, 2]}


def _entries(cache, namespace):
    return sorted(p for p in (cache / "results" / namespace).iterdir() if not p.name.startswith("."))


def test_a_tensor_is_computed_once_then_read_back(cache):
    c = Compute("teacher-logits")
    first = cached_tensor("logits", ["weights-sha", "examples-sha", "128"], c.tensor)
    again = cached_tensor("logits", ["weights-sha", "examples-sha", "128"], c.tensor)
    assert c.calls == 1
    assert torch.equal(first, again) and again.dtype == torch.float32
    assert len(_entries(cache, "logits")) == 1


def test_json_is_computed_once_then_read_back(cache):
    c = Compute("scores")
    first = cached_json("scores", ["k"], c.json)
    assert cached_json("scores", ["k"], c.json) == first == {"tag": "scores", "accuracy": 0.8125, "rows": [1, 2]}
    assert c.calls == 1


@pytest.mark.parametrize("key_a, key_b", [
    (["w", "x", "128"], ["w", "x", "64"]),
    (["ab", "c"], ["a", "bc"]),  # the same characters split differently
    (["w"], ["w", ""]),
])
def test_different_keys_do_not_collide(key_a, key_b):
    a, b = Compute("a"), Compute("b")
    ta = cached_tensor("logits", key_a, a.tensor)
    tb = cached_tensor("logits", key_b, b.tensor)
    assert a.calls == b.calls == 1 and not torch.equal(ta, tb)
    assert torch.equal(cached_tensor("logits", key_a, a.tensor), ta)
    assert torch.equal(cached_tensor("logits", key_b, b.tensor), tb)
    assert a.calls == b.calls == 1


def test_namespaces_do_not_collide():
    a, b = Compute("a"), Compute("b")
    assert cached_json("dev", ["same"], a.json) != cached_json("test", ["same"], b.json)
    assert a.calls == b.calls == 1


@pytest.mark.parametrize("damage", [b"", b"\x00garbage\xff" * 8, "truncate"])
def test_a_damaged_entry_is_recomputed(cache, damage):
    c = Compute("x")
    good = cached_tensor("logits", ["k"], c.tensor)
    (entry,) = _entries(cache, "logits")
    entry.write_bytes(entry.read_bytes()[:-7] if damage == "truncate" else damage)
    assert torch.equal(cached_tensor("logits", ["k"], c.tensor), good)
    assert c.calls == 2
    assert torch.equal(cached_tensor("logits", ["k"], c.tensor), good) and c.calls == 2  # repaired


def test_a_damaged_json_entry_is_recomputed(cache):
    c = Compute("x")
    cached_json("scores", ["k"], c.json)
    (entry,) = _entries(cache, "scores")
    entry.write_text('{"tag": ')
    assert cached_json("scores", ["k"], c.json)["tag"] == "x" and c.calls == 2


def test_only_the_most_recently_used_entries_stay(cache):
    keep = disk_cache.KEEP
    computes = [Compute(f"k{i}") for i in range(keep + 2)]
    for i, c in enumerate(computes[:keep]):
        cached_json("scores", [c.tag], c.json)
        time.sleep(0.02)  # mtimes a clock tick apart
    cached_json("scores", ["k0"], computes[0].json)  # read: k0 is now the most recent
    time.sleep(0.02)
    for c in computes[keep:]:
        cached_json("scores", [c.tag], c.json)
        time.sleep(0.02)
    assert len(_entries(cache, "scores")) == keep
    assert [c.calls for c in computes] == [1] * len(computes)
    for i in (0, 3, keep + 1):  # still there: no recomputation
        cached_json("scores", [f"k{i}"], computes[i].json)
        assert computes[i].calls == 1
    for i in (1, 2):  # the two least recently used went
        cached_json("scores", [f"k{i}"], computes[i].json)
        assert computes[i].calls == 2


def test_a_cache_that_cannot_be_created_costs_only_the_recomputation(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "afile" / "cache"))
    c = Compute("x")
    assert cached_json("scores", ["k"], c.json)["tag"] == "x"
    assert torch.equal(cached_tensor("logits", ["k"], c.tensor), Compute("x").tensor())
