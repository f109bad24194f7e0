"""Layer selection keeps exactly the chosen layers, physically; greedy finds harmless layers."""

import dataclasses

import pytest
import torch

from edgebert.compression.layer_selection import every_other, greedy_selection, select_layers
from edgebert.errors import EdgebertError
from edgebert.model import load_model, save_checkpoint
from edgebert.model.checkpoint import load_checkpoint


def test_keep_list_keeps_exactly_those_layers(teacher_dir, tmp_path):
    model = load_model(teacher_dir)
    chosen = select_layers(model, [0, 2, 3])
    assert chosen.num_layers == 3 and chosen.config.provenance["kept_layers"] == [0, 2, 3]
    src, dst = model.state_dict(), chosen.state_dict()
    for i, j in enumerate([0, 2, 3]):
        assert torch.equal(dst[f"encoder.layer.{i}.intermediate.dense.weight"], src[f"encoder.layer.{j}.intermediate.dense.weight"])
    assert chosen.num_parameters() < model.num_parameters()
    save_checkpoint(chosen, tmp_path / "s")
    assert load_checkpoint(tmp_path / "s").config.provenance["kept_layers"] == [0, 2, 3]
    with pytest.raises(EdgebertError, match="increasing"):
        select_layers(model, [2, 0])


def test_every_other():
    assert every_other(6) == [0, 2, 4] and every_other(3) == [0, 2]


def _identity(layer) -> None:
    """Zero a layer's residual branches: it then only re-applies LayerNorm (nearly the identity)."""
    with torch.no_grad():
        for lin in (layer.attention.output.dense, layer.output.dense):
            lin.weight.zero_()
            lin.bias.zero_()


def test_greedy_drops_the_layers_that_do_nothing(teacher_dir, enc):
    model = load_model(teacher_dir)
    with torch.no_grad():  # plain LayerNorms: re-normalising a normalised state then changes nothing
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()
    _identity(model.encoder.layer[1])
    _identity(model.encoder.layer[3])
    batch = enc.batch(slice(None))
    with torch.no_grad():  # put the decision boundary through the middle of the data
        model.classifier.weight.mul_(50)
        logits = model(**batch)
        model.classifier.bias[1] -= (logits[:, 1] - logits[:, 0]).median() - 1e-3
        full = model(**batch).argmax(1)
    assert 0 < int(full.sum()) < len(full)
    dev = dataclasses.replace(enc, labels=full)  # dev labels = what the full model says
    kept, trace = greedy_selection(model, dev, 2)
    assert kept == [0, 2]
    assert [t["dropped"] for t in trace] in ([1, 3], [3, 1])
    with pytest.raises(EdgebertError, match="target_layers"):
        greedy_selection(model, dev, 5)
