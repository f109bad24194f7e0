"""LayerDrop masks: seeded per step, rate p, never empty, and equivalent to physical removal."""

import torch

from edgebert.compression.layer_selection import select_layers
from edgebert.compression.layerdrop import layer_keep_mask


def test_mask_is_a_function_of_seed_and_step():
    assert layer_keep_mask(6, 0.5, 0, 7) == layer_keep_mask(6, 0.5, 0, 7)
    masks = {tuple(layer_keep_mask(6, 0.5, 0, s)) for s in range(20)}
    assert len(masks) > 5
    assert layer_keep_mask(6, 0.5, 1, 7) != layer_keep_mask(6, 0.5, 0, 7) or \
        layer_keep_mask(6, 0.5, 1, 8) != layer_keep_mask(6, 0.5, 0, 8)


def test_rate_and_never_all_dropped():
    assert layer_keep_mask(4, 0.0, 0, 3) == [True] * 4
    drops = sum(6 - sum(layer_keep_mask(6, 0.2, 0, s)) for s in range(2000))
    assert 0.17 < drops / (6 * 2000) < 0.23
    assert all(any(layer_keep_mask(3, 0.99, 0, s)) for s in range(200))


def test_skipping_layers_equals_the_selected_model(teacher_dir, enc):
    from edgebert.model import load_model

    model = load_model(teacher_dir)
    b = enc.batch(slice(0, 6))
    skipped = model.forward_features(**b, layer_keep=[True, False, True, False]).logits
    selected = select_layers(model, [0, 2]).eval()(**b)
    assert torch.allclose(skipped, selected, atol=1e-6)
