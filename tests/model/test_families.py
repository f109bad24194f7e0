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
    mobile = dict(**COMMON, embedding_size=16, intra_bottleneck_size=16, num_feedforward_networks=2,
                  max_position_embeddings=64)
    if family == "mobilebert":  # as released: NoNorm, trigram input, query/key bottleneck, pooler + tanh
        return tf.MobileBertConfig(**mobile), tf.MobileBertForSequenceClassification
    if family == "mobilebert-layer-norm":  # the other branches: LayerNorm, attention in the bottleneck, no pooler
        return (tf.MobileBertConfig(**mobile, normalization_type="layer_norm", use_bottleneck_attention=True,
                                    key_query_shared_bottleneck=False, classifier_activation=False, layer_norm_eps=1e-7,
                                    hidden_act="gelu"), tf.MobileBertForSequenceClassification)
    raise AssertionError(family)


FAMILIES = ["bert", "distilbert", "roberta", "xlm-roberta", "electra", "albert", "mpnet", "mobilebert",
            "mobilebert-layer-norm"]
FAMILY_OF = {"xlm-roberta": "roberta", "mobilebert-layer-norm": "mobilebert"}  # the rest are their own name


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


def _inputs(pad_id: int, types: bool, seed: int = 0, trailing_pad: bool = False):
    """Three rows, two of them padded; ``trailing_pad`` pads the full row too (by one token)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    if trailing_pad:
        mask[0, 19:] = 0
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
    assert cfg.family == FAMILY_OF.get(family, family)
    # MobileBERT's last token sees the next token's embedding: edgebert always gives it [PAD]'s,
    # transformers too unless the text fills the row (then zeros), so every row ends in padding here
    ids, mask, types = _inputs(cfg.pad_token_id, cfg.type_vocab_size > 1, trailing_pad=cfg.trigram_input)
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


def test_mobilebert_logits_do_not_depend_on_the_padding_after_the_text(tmp_path):
    """Batches are trimmed to their longest text, exports run at a fixed width: a text's logits
    must be the same either way, although its last token reads its neighbour (trigram input)."""
    path, _ = make_family_model(tmp_path / "mobilebert", "mobilebert")
    ours = load_model(path)
    ids, mask, types = _inputs(0, True)
    padded = [torch.cat([t, torch.full((3, 4), fill)], dim=1) for t, fill in ((ids, 0), (mask, 0), (types, 0))]
    with torch.no_grad():
        trimmed, wide = ours(ids, mask, types), ours(*padded)
    assert (trimmed - wide).abs().max().item() <= 1e-5


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
