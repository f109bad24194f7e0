"""Head (and FFN) pruning: zero-contribution units score zero, and removing them changes nothing but size."""

import pytest
import torch

from edgebert.compression.ffn_pruning import choose_neurons, ffn_importance, prune_ffn
from edgebert.compression.head_pruning import choose_heads, head_importance, heads_to_prune, prune_heads
from edgebert.compression.losses import hard_cross_entropy
from edgebert.errors import EdgebertError
from edgebert.model import save_checkpoint
from edgebert.model.checkpoint import load_checkpoint

DEAD = {0: [1, 3], 1: [2]}


def _kill_heads(model, heads: dict[int, list[int]]) -> None:
    """Zero the value rows of these heads: their attention output is exactly zero."""
    with torch.no_grad():
        for layer, hs in heads.items():
            v = model.encoder.layer[layer].attention.self.value
            d = model.config.layers[layer].head_dim
            for h in hs:
                v.weight[h * d:(h + 1) * d] = 0
                v.bias[h * d:(h + 1) * d] = 0


def _loss(enc):
    return lambda logits, idx: hard_cross_entropy(logits, enc.labels[idx])


def test_zero_importance_heads_prune_without_changing_logits(tiny_model, enc, tmp_path):
    _kill_heads(tiny_model, DEAD)
    imp = head_importance(tiny_model, enc, _loss(enc), batch_size=8)
    for layer, s in enumerate(imp):
        for h in range(4):
            assert (s[h] == 0) == (h in DEAD.get(layer, [])), (layer, h, s)
    chosen = choose_heads(imp, 3)
    assert chosen == DEAD
    batch = enc.batch(slice(None))
    before = tiny_model(**batch)
    params = tiny_model.num_parameters()
    prune_heads(tiny_model, chosen)
    after = tiny_model(**batch)
    assert (after - before).abs().max() <= 1e-6
    # 3 heads x (Q, K, V rows with bias + output columns) of width 8 on hidden 32
    assert params - tiny_model.num_parameters() == 3 * (3 * (32 * 8 + 8) + 32 * 8)
    assert [l.num_heads for l in tiny_model.config.layers] == [2, 3]
    assert tiny_model.config.provenance["kept_heads"] == [[0, 2], [0, 1, 3]]
    save_checkpoint(tiny_model, tmp_path / "pruned")
    reloaded = load_checkpoint(tmp_path / "pruned")
    assert torch.allclose(reloaded(**batch), after, atol=1e-6)


def test_pruning_live_heads_does_change_logits(tiny_model, enc):
    batch = enc.batch(slice(None))
    before = tiny_model(**batch)
    prune_heads(tiny_model, {0: [0, 1]})
    assert (tiny_model(**batch) - before).abs().max() > 1e-3


def test_repeated_pruning_keeps_original_head_ids(tiny_model):
    prune_heads(tiny_model, {0: [0]})
    prune_heads(tiny_model, {0: [1]})  # current head 1 = original head 2
    assert tiny_model.config.provenance["kept_heads"][0] == [1, 3]


def test_global_choice_keeps_one_head_per_layer():
    imp = [torch.tensor([0.0, 0.1, 0.2]), torch.tensor([0.5, 0.6, 0.7])]
    assert choose_heads(imp, 4) == {0: [0, 1], 1: [0, 1]}
    assert choose_heads(imp, 10) == {0: [0, 1], 1: [0, 1]}
    assert choose_heads(imp, 2) == {0: [0, 1]}


def test_cannot_remove_every_head(tiny_model):
    with pytest.raises(EdgebertError, match="every head of layer 0"):
        prune_heads(tiny_model, {0: [0, 1, 2, 3]})


def test_heads_to_prune():
    assert heads_to_prune(24, 0.5, None, 2) == 12
    assert heads_to_prune(24, None, 20, 2) == 4
    assert heads_to_prune(4, 0.9, None, 2) == 2  # capped: one head per layer stays


def test_normalised_importance_has_unit_norm_per_layer(tiny_model, enc):
    imp = head_importance(tiny_model, enc, _loss(enc), batch_size=12)
    for s in imp:
        assert torch.isclose(s.norm(), torch.tensor(1.0), atol=1e-5)


def test_zero_importance_ffn_neurons_prune_without_changing_logits(tiny_model, enc):
    dead = [3, 10, 40]
    with torch.no_grad():
        tiny_model.encoder.layer[1].output.dense.weight[:, dead] = 0
    imp = ffn_importance(tiny_model, enc, _loss(enc), batch_size=8)
    assert all(imp[1][n] == 0 for n in dead) and (imp[1] > 0).sum() == 48 - len(dead)
    chosen = choose_neurons(imp, 3)
    assert chosen == {1: dead}
    batch = enc.batch(slice(None))
    before = tiny_model(**batch)
    params = tiny_model.num_parameters()
    prune_ffn(tiny_model, chosen)
    assert (tiny_model(**batch) - before).abs().max() <= 1e-6
    assert params - tiny_model.num_parameters() == 3 * (32 + 1 + 32)
    assert tiny_model.config.layers[1].intermediate_size == 45
