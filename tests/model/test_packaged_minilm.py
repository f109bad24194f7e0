"""The real packaged all-MiniLM-L6-v2: edgebert's model must reproduce transformers on real text."""

import pytest
import torch

from edgebert.errors import DependencyError

pytestmark = pytest.mark.slow


def test_packaged_minilm_matches_transformers_on_real_text():
    from transformers import BertModel

    from edgebert.assets import default_encoder_dir
    from edgebert.data import encode, load_tokenizer
    from edgebert.data.default import load_rotten_tomatoes
    from edgebert.model import load_model

    try:
        path = default_encoder_dir()
    except DependencyError as exc:  # the README's set-up installs it; say how if it is absent
        pytest.fail(exc.one_line())
    data = load_rotten_tomatoes()
    assert len(data) > 12000
    tok = load_tokenizer(path)
    enc = encode(tok, data.examples[:16], 64, data.label_names)
    ours = load_model(path, label_names=data.label_names, pooling="mean")
    hf = BertModel.from_pretrained(str(path)).eval()
    assert ours.num_parameters() - sum(p.numel() for p in ours.classifier.parameters()) == sum(
        p.numel() for n, p in hf.named_parameters() if not n.startswith("pooler."))
    with torch.no_grad():
        expected = hf(**enc.batch(slice(None))).last_hidden_state
        got = ours.forward_features(**enc.batch(slice(None)), output_hidden_states=True).hidden_states[-1]
    mask = enc.attention_mask.bool()
    assert (got[mask] - expected[mask]).abs().max().item() <= 1e-5
