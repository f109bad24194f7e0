"""The training loop: seeded batches, and resume-from-checkpoint equal to an uninterrupted run."""

import copy
import pickle
import random

import pytest
import torch

from edgebert.compression.trainer import TrainSpec, batch_indices, latest_checkpoint, total_steps, train
from edgebert.errors import CheckpointError


def test_batches_are_seeded_permutations_per_epoch():
    epoch0 = torch.cat([batch_indices(20, 8, 5, s) for s in range(3)])
    assert sorted(epoch0.tolist()) == list(range(20))  # one epoch covers every example once
    assert torch.equal(batch_indices(20, 8, 5, 4), batch_indices(20, 8, 5, 4))
    assert not torch.equal(batch_indices(20, 8, 5, 0), batch_indices(20, 8, 5, 3))  # next epoch reshuffles
    assert not torch.equal(batch_indices(20, 8, 5, 0), batch_indices(20, 8, 6, 0))
    parts = [batch_indices(20, 8, 5, 1, rank=r, world=2) for r in range(2)]
    assert sorted(torch.cat(parts).tolist()) == sorted(batch_indices(20, 8, 5, 1).tolist())
    assert total_steps(20, 8, 2.0) == 6 and total_steps(20, 8, 2.0, max_steps=4) == 4


class Crash(RuntimeError):
    pass


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x, y = torch.randn(40, 6), torch.randn(40, 1)

    def step_fn(module, step, crash_at=None):
        if step == crash_at:
            raise Crash()
        idx = batch_indices(40, 8, 0, step)
        loss = torch.nn.functional.mse_loss(module(x[idx]), y[idx])
        return loss, {"mse": float(loss.detach())}

    return model, step_fn


def _spec(folder):
    return TrainSpec("t", 15, 1e-2, folder, seed=3, checkpoint_every=4)


def _crash_at_10(model, step_fn, folder):
    with pytest.raises(Crash):
        train(copy.deepcopy(model), lambda m, s: step_fn(m, s, crash_at=10), _spec(folder))
    assert latest_checkpoint(folder).name == "checkpoint-8"
    return latest_checkpoint(folder)


def _assert_same_run(full, res_full, resumed, res):
    assert res.resumed_from == 8
    assert res.history == res_full.history
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_after_crash_matches_uninterrupted(tmp_path):
    model, step_fn = _setup()
    full, res_full = train(copy.deepcopy(model), step_fn, _spec(tmp_path / "a"))
    assert res_full.resumed_from is None and len(res_full.history) == 15
    _crash_at_10(model, step_fn, tmp_path / "b")
    assert len(list((tmp_path / "b").glob("checkpoint-*"))) == 1  # older ones are pruned
    torch.manual_seed(999)  # no RNG state is stored: every step re-seeds from (seed, step)
    random.seed(999)
    resumed, res = train(copy.deepcopy(model), step_fn, _spec(tmp_path / "b"))
    _assert_same_run(full, res_full, resumed, res)


def test_checkpoint_holds_no_pickles(tmp_path):
    model, step_fn = _setup()
    ckpt = _crash_at_10(model, step_fn, tmp_path)
    files = sorted(f.name for f in ckpt.iterdir())
    assert "model.safetensors" in files and "optimizer.safetensors" in files
    assert {f.rsplit(".", 1)[-1] for f in files} <= {"safetensors", "json"}, files
    for f in ckpt.iterdir():  # no pickle (protocol 2+ starts with 0x80) and no torch.save zip under another name
        head = f.read_bytes()[:4]
        assert head[:1] != b"\x80" and head != b"PK\x03\x04", f.name


def test_resume_never_unpickles(tmp_path, monkeypatch):
    model, step_fn = _setup()
    full, res_full = train(copy.deepcopy(model), step_fn, _spec(tmp_path / "a"))
    _crash_at_10(model, step_fn, tmp_path / "b")

    def refuse(*args, **kwargs):
        raise AssertionError("resuming unpickled a file")

    for owner, name in [(pickle, "load"), (pickle, "loads"), (torch, "load"), (torch.serialization, "load")]:
        monkeypatch.setattr(owner, name, refuse)
    resumed, res = train(copy.deepcopy(model), step_fn, _spec(tmp_path / "b"))
    _assert_same_run(full, res_full, resumed, res)


@pytest.mark.parametrize("damage", ["old_pickled_format", "truncated_weights", "other_model"])
def test_unusable_checkpoint_is_one_line(tmp_path, damage):
    model, step_fn = _setup()
    ckpt = _crash_at_10(model, step_fn, tmp_path)
    if damage == "old_pickled_format":  # what Accelerate's save_state wrote before
        for name in ("optimizer.safetensors", "optimizer.json", "scheduler.json"):
            (ckpt / name).unlink()
        for name in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
            (ckpt / name).write_bytes(pickle.dumps({"x": 1}))
    elif damage == "truncated_weights":
        data = (ckpt / "model.safetensors").read_bytes()
        (ckpt / "model.safetensors").write_bytes(data[:len(data) // 2])
    else:
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with pytest.raises(CheckpointError) as err:
        train(copy.deepcopy(model), step_fn, _spec(tmp_path))
    line = err.value.one_line()
    assert "\n" not in line and "delete the checkpoint-* folders" in line
    if damage == "old_pickled_format":
        assert "never unpickles" in line and "optimizer.bin" in line


def test_without_checkpoint_a_different_seed_differs(tmp_path):
    model, step_fn = _setup()
    a, _ = train(copy.deepcopy(model), step_fn, TrainSpec("t", 6, 1e-2, tmp_path / "a", seed=1, checkpoint_every=0))
    b, _ = train(copy.deepcopy(model), step_fn, TrainSpec("t", 6, 1e-2, tmp_path / "b", seed=2, checkpoint_every=0))
    assert not torch.equal(a[0].weight, b[0].weight)  # dropout masks follow the seed


def test_length_buckets_cover_the_epoch_and_cut_padding():
    torch.manual_seed(0)
    lengths = torch.randint(4, 64, (200,))
    n, bs = 200, 8
    steps = 25
    bucketed = [batch_indices(n, bs, 1, s, lengths=lengths) for s in range(steps)]
    assert sorted(torch.cat(bucketed).tolist()) == list(range(n))
    assert [b.tolist() for b in bucketed] == [batch_indices(n, bs, 1, s, lengths=lengths).tolist() for s in range(steps)]
    plain = [batch_indices(n, bs, 1, s) for s in range(steps)]
    padding = lambda batches: sum(int(lengths[b].max() * len(b) - lengths[b].sum()) for b in batches)  # noqa: E731
    assert padding(bucketed) < padding(plain) / 3
