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


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_logits_match_transformers(tmp_path, act, make_bert):
    from transformers import BertForSequenceClassification

    path = make_bert(tmp_path / "m", num_labels=3, layers=3)
    cfg_file = path / "config.json"
    import json

    cfg = json.loads(cfg_file.read_text())
    cfg["hidden_act"] = act
    cfg_file.write_text(json.dumps(cfg))
    hf = BertForSequenceClassification.from_pretrained(str(path)).eval()
    ours = load_model(path)
    ids, mask, types = _inputs(hf.config.vocab_size)
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, mask, types)
    assert got.shape == expected.shape == (3, 3)
    assert (got - expected).abs().max().item() <= 1e-5


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
