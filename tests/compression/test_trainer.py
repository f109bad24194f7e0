"""The training loop: seeded batches, and resume-from-checkpoint equal to an uninterrupted run."""

import copy

import pytest
import torch

from edgebert.compression.trainer import TrainSpec, batch_indices, latest_checkpoint, total_steps, train


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


def test_resume_after_crash_matches_uninterrupted(tmp_path):
    model, step_fn = _setup()
    spec = lambda d: TrainSpec("t", 15, 1e-2, tmp_path / d, seed=3, checkpoint_every=4)  # noqa: E731
    full, res_full = train(copy.deepcopy(model), step_fn, spec("a"))
    assert res_full.resumed_from is None and len(res_full.history) == 15
    with pytest.raises(Crash):
        train(copy.deepcopy(model), lambda m, s: step_fn(m, s, crash_at=10), spec("b"))
    assert latest_checkpoint(tmp_path / "b").name == "checkpoint-8"
    assert len(list((tmp_path / "b").glob("checkpoint-*"))) == 1  # older ones are pruned
    resumed, res = train(copy.deepcopy(model), step_fn, spec("b"))
    assert res.resumed_from == 8
    assert res.history == res_full.history
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


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
