import pytest
import torch

from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification, LayerShape
from edgebert.errors import CheckpointError


def tiny(layers=None, pooling="cls", labels=2) -> EdgeBertForSequenceClassification:
    torch.manual_seed(0)
    layers = layers or [LayerShape(4, 8, 48), LayerShape(2, 8, 20), LayerShape(1, 8, 16)]
    cfg = EdgeBertConfig(vocab_size=50, hidden_size=32, layers=layers, num_labels=labels, pooling=pooling,
                         max_position_embeddings=64)
    return EdgeBertForSequenceClassification(cfg).eval()


def test_per_layer_shapes_are_real():
    m = tiny()
    assert [l.attention.self.query.out_features for l in m.encoder.layer] == [32, 16, 8]
    assert [l.intermediate.dense.out_features for l in m.encoder.layer] == [48, 20, 16]
    assert m(torch.randint(0, 50, (2, 10))).shape == (2, 2)


def test_features_expose_pre_softmax_scores_and_hidden_states():
    m = tiny()
    ids = torch.randint(0, 50, (2, 7))
    out = m.forward_features(ids, output_hidden_states=True, output_attention_scores=True)
    assert len(out.hidden_states) == 4
    assert [s.shape for s in out.attention_scores] == [(2, 4, 7, 7), (2, 2, 7, 7), (2, 1, 7, 7)]
    # pre-softmax: rows do not sum to one and can be negative
    assert not torch.allclose(out.attention_scores[0].sum(-1), torch.ones(2, 4, 7))


def test_padding_does_not_change_logits():
    """The model's own additive mask must make padded positions invisible."""
    m = tiny(pooling="mean")
    ids = torch.randint(5, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], 1).long()
    with torch.no_grad():
        assert torch.allclose(m(ids), m(padded, mask), atol=1e-5)


def test_head_gates_zero_a_head_like_removing_it():
    m = tiny()
    ids = torch.randint(0, 50, (2, 9))
    gates = [torch.ones(l.num_heads) for l in m.config.layers]
    with torch.no_grad():
        base = m.forward_features(ids, head_gates=gates).logits
        gates[0][1] = 0.0
        changed = m.forward_features(ids, head_gates=gates).logits
    assert not torch.allclose(base, changed)


def test_layer_keep_skips_layers():
    m = tiny()
    ids = torch.randint(0, 50, (2, 5))
    out = m.forward_features(ids, output_hidden_states=True, layer_keep=[True, False, True])
    assert len(out.hidden_states) == 3


def test_forward_from_layer_matches_full_forward():
    m = tiny()
    ids = torch.randint(0, 50, (2, 8))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        out = m.forward_features(ids, mask, output_hidden_states=True)
        assert torch.allclose(m.forward_from_layer(out.hidden_states[2], mask, 2), out.logits, atol=1e-6)


@pytest.mark.parametrize("dynamic", [False, True])
def test_torch_export_without_graph_breaks(dynamic):
    m = tiny()
    ids = torch.randint(0, 50, (1, 16))
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    shapes = None
    if dynamic:
        seq = torch.export.Dim("seq", min=2, max=64)
        shapes = ({1: seq}, {1: seq}, {1: seq})
    ep = torch.export.export(m, args, dynamic_shapes=shapes, strict=True)
    exported = ep.module()
    with torch.no_grad():
        assert torch.allclose(exported(*args), m(*args), atol=1e-6)
        if dynamic:
            short = torch.randint(0, 50, (1, 5))
            s_args = (short, torch.ones_like(short), torch.zeros_like(short))
            assert torch.allclose(exported(*s_args), m(*s_args), atol=1e-6)


def test_config_rejects_bad_shapes():
    with pytest.raises(CheckpointError, match="no attention heads"):
        EdgeBertConfig(vocab_size=10, hidden_size=8, layers=[LayerShape(0, 8, 8)])
    with pytest.raises(CheckpointError, match="label names"):
        EdgeBertConfig(vocab_size=10, hidden_size=8, layers=[LayerShape(1, 8, 8)], num_labels=3, label_names=["a"])
    with pytest.raises(CheckpointError, match="divisible"):
        EdgeBertConfig.uniform(vocab_size=10, hidden_size=10, num_layers=1, num_heads=3, intermediate_size=8)
