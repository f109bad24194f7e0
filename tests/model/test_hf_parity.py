import pytest
import torch

from edgebert.errors import CheckpointError
from edgebert.model import load_model


def _inputs(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, 4:] = 0
    types = torch.zeros_like(ids)
    types[:, 10:] = 1
    return ids, mask, types


ACTIVATIONS = ["gelu", "gelu_new", "relu"]


def _sharpen(path) -> None:
    """Make the activation show in the logits: at default init the FFN inputs sit near 0,
    where exact and tanh GELU differ by ~1e-7 at the logits, so either passes for the other.
    Biased to -1.5 (relative to GELU's value, the two differ most in its negative half) and
    with the FFN output, pooler and head scaled up, they differ by ~3e-3 while fp32 parity
    stays ~5e-7."""
    from transformers import BertForSequenceClassification

    hf = BertForSequenceClassification.from_pretrained(str(path))
    with torch.no_grad():
        for layer in hf.bert.encoder.layer:
            layer.intermediate.dense.bias.fill_(-1.5)
            layer.output.dense.weight.mul_(100)
        hf.bert.pooler.dense.weight.mul_(10)
        hf.classifier.weight.mul_(10)
    hf.save_pretrained(str(path))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_logits_match_transformers(tmp_path, act, make_bert):
    import json

    from transformers import BertForSequenceClassification

    path = make_bert(tmp_path / "m", num_labels=3, layers=3)
    _sharpen(path)
    cfg_file = path / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["hidden_act"] = act
    cfg_file.write_text(json.dumps(cfg))
    hf = BertForSequenceClassification.from_pretrained(str(path)).eval()
    ours = load_model(path)
    ids, mask, types = _inputs(hf.config.vocab_size)
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, mask, types)
        others = {a: BertForSequenceClassification.from_pretrained(str(path), hidden_act=a).eval()(
            input_ids=ids, attention_mask=mask, token_type_ids=types).logits for a in ACTIVATIONS if a != act}
    assert got.shape == expected.shape == (3, 3)
    assert (got - expected).abs().max().item() <= 1e-5
    # the case has teeth: running any other activation moves the logits far beyond the tolerance
    for other, logits in others.items():
        assert (logits - expected).abs().max().item() > 1e-3, other


def test_hidden_states_match_transformers(hf_bert_dir):
    from transformers import BertModel

    hf = BertModel.from_pretrained(str(hf_bert_dir)).eval()
    ours = load_model(hf_bert_dir)
    ids, mask, types = _inputs(hf.config.vocab_size, seed=1)
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        got = ours.forward_features(ids, mask, types, output_hidden_states=True)
    assert len(got.hidden_states) == len(expected.hidden_states) == 3
    for a, b in zip(got.hidden_states, expected.hidden_states):
        assert (a - b).abs().max().item() <= 1e-5


def test_int32_and_int64_inputs_agree(hf_bert_dir):
    model = load_model(hf_bert_dir)
    ids, mask, types = _inputs(model.config.vocab_size)
    with torch.no_grad():
        a = model(ids, mask, types)
        b = model(ids.int(), mask.int(), types.int())
    assert torch.equal(a, b)


def test_label_names_come_from_id2label(hf_bert_dir):
    assert load_model(hf_bert_dir).config.label_names == ["neg", "pos"]


def test_plain_encoder_gets_fresh_head_unless_required(hf_encoder_dir):
    model = load_model(hf_encoder_dir, label_names=["a", "b", "c"], pooling="mean")
    assert model.config.num_labels == 3 and model.config.pooling == "mean"
    assert model.config.provenance["trained_head"] is False
    with pytest.raises(CheckpointError, match="no classification head"):
        load_model(hf_encoder_dir, require_head=True)
