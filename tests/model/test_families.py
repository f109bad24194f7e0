"""Every supported encoder family loads into edgebert's one encoder and matches transformers.

Tiny random *ForSequenceClassification models of each family are built and saved with the
pinned transformers; edgebert's logits and hidden states must equal transformers' to 1e-5
on padded batches. The weights are re-drawn large enough that every part (positions, token
types, the head, the relative bias, the embedding projection) moves the logits.
"""

from __future__ import annotations

import pytest
import torch

from builders import tiny_vocab
from edgebert.errors import CheckpointError
from edgebert.model import load_model

V = len(tiny_vocab())
COMMON = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
              num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})


def _config(family: str):
    import transformers as tf

    if family == "bert":
        return tf.BertConfig(**COMMON, max_position_embeddings=64), tf.BertForSequenceClassification
    if family == "distilbert":
        return (tf.DistilBertConfig(vocab_size=V, dim=32, n_layers=2, n_heads=4, hidden_dim=48, max_position_embeddings=64,
                                    num_labels=3, id2label=COMMON["id2label"], label2id=COMMON["label2id"]),
                tf.DistilBertForSequenceClassification)
    if family == "roberta":
        return (tf.RobertaConfig(**COMMON, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                                 layer_norm_eps=1e-5), tf.RobertaForSequenceClassification)
    if family == "xlm-roberta":
        return (tf.XLMRobertaConfig(**COMMON, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                                    layer_norm_eps=1e-5), tf.XLMRobertaForSequenceClassification)
    if family == "electra":
        return tf.ElectraConfig(**COMMON, embedding_size=16, max_position_embeddings=64), \
            tf.ElectraForSequenceClassification
    if family == "albert":
        return (tf.AlbertConfig(**{**COMMON, "num_hidden_layers": 3}, embedding_size=16, max_position_embeddings=64,
                                hidden_act="gelu_new"), tf.AlbertForSequenceClassification)
    if family == "mpnet":
        return (tf.MPNetConfig(**COMMON, max_position_embeddings=66, pad_token_id=1, relative_attention_num_buckets=32,
                               layer_norm_eps=1e-5), tf.MPNetForSequenceClassification)
    raise AssertionError(family)


FAMILIES = ["bert", "distilbert", "roberta", "xlm-roberta", "electra", "albert", "mpnet"]


def make_family_model(path, family: str, seed: int = 0):
    """A tiny random classifier of ``family`` saved by the pinned transformers, weights drawn
    large enough (std 0.2) that positions, token types and the head all show in the logits."""
    cfg, cls = _config(family)
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
            elif "bias" in name:
                p.normal_(0.0, 0.05)
    model.save_pretrained(str(path))
    return path, cls


def _inputs(pad_id: int, types: bool, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = pad_id  # padding as tokenizers write it (RoBERTa-style positions depend on it)
    token_types = torch.zeros_like(ids)
    if types:
        token_types[:, 10:] = 1
    return ids, mask, token_types


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_and_hidden_states_match_transformers(family, tmp_path):
    path, cls = make_family_model(tmp_path / family, family)
    hf = cls.from_pretrained(str(path)).eval()
    ours = load_model(path)
    cfg = ours.config
    assert cfg.family == ("roberta" if family == "xlm-roberta" else family)
    ids, mask, types = _inputs(cfg.pad_token_id, cfg.type_vocab_size > 1)
    kw = {"token_type_ids": types} if cfg.type_vocab_size > 1 else {}
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, output_hidden_states=True, **kw)
        got = ours.forward_features(ids, mask, types, output_hidden_states=True)
    assert got.logits.shape == expected.logits.shape == (3, 3)
    assert (got.logits - expected.logits).abs().max().item() <= 1e-5, family
    assert expected.logits.std().item() > 0.1  # the case has teeth: the logits really differ per input
    # hidden states at real tokens (padding positions are free to differ: nothing attends to them)
    real = mask.bool()
    theirs = expected.hidden_states[-len(got.hidden_states):]
    for a, b in zip(got.hidden_states[1:], theirs[1:]):
        assert (a[real] - b[real]).abs().max().item() <= 1e-4, family


def test_albert_stores_one_layer_and_applies_it_at_every_depth(tmp_path):
    path, _ = make_family_model(tmp_path / "albert", "albert")
    ours = load_model(path)
    assert ours.num_layers == 3 and len(ours.encoder.layer) == 1
    assert not any(k.startswith("encoder.layer.1.") for k in ours.state_dict())


def test_a_family_edgebert_does_not_read_is_one_line(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "funnel", "architectures": ["FunnelModel"]}))
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path)
    assert "unsupported encoder family" in err.value.one_line() and "mpnet" in err.value.one_line()
