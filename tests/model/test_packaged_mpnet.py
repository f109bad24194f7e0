"""The real all-mpnet-base-v2 (the default teacher's encoder), joined from its five packages:
edgebert's model must reproduce transformers on real text, and its tokenizer must line up with
the default student's (all-MiniLM-L6-v2) so intermediate losses can be used between them."""

import pytest
import torch

from edgebert.errors import DependencyError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mpnet_dir():
    from edgebert.assets import mpnet_base_dir

    try:
        return mpnet_base_dir()
    except DependencyError as exc:  # the README's set-up installs the parts; say how if they are absent
        pytest.fail(exc.one_line())


@pytest.fixture(scope="module")
def rotten():
    from edgebert.data.default import load_rotten_tomatoes

    return load_rotten_tomatoes()


def test_packaged_mpnet_matches_transformers_on_real_text(mpnet_dir, rotten):
    from transformers import MPNetModel

    from edgebert.data import encode, load_tokenizer
    from edgebert.model import load_model

    tok = load_tokenizer(mpnet_dir)
    examples = sorted(rotten.examples, key=lambda e: len(e.text))[::800]  # short to long
    enc = encode(tok, examples, 128, rotten.label_names)
    ours = load_model(mpnet_dir, label_names=rotten.label_names, pooling="mean")
    assert ours.config.family == "mpnet" and ours.num_layers == 12 and ours.config.hidden_size == 768
    hf = MPNetModel.from_pretrained(str(mpnet_dir)).eval()
    assert ours.num_parameters() - sum(p.numel() for p in ours.classifier.parameters()) == sum(
        p.numel() for n, p in hf.named_parameters() if not n.startswith("pooler."))
    batch = enc.batch(slice(None))
    with torch.no_grad():
        expected = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        got = ours.forward_features(**batch, output_hidden_states=True).hidden_states[-1]
    mask = enc.attention_mask.bool()
    assert int(enc.attention_mask.sum(1).max()) > 40  # long inputs reach the far relative-position buckets
    assert (got[mask] - expected[mask]).abs().max().item() <= 1e-5


def test_default_student_tokens_line_up_with_the_teachers_on_the_packaged_data(mpnet_dir, rotten):
    from edgebert.assets import default_encoder_dir
    from edgebert.compression.token_alignment import positions_align
    from edgebert.data import encode, load_tokenizer

    teacher, student = load_tokenizer(mpnet_dir), load_tokenizer(default_encoder_dir())
    assert teacher.cls_token == "<s>" and student.cls_token == "[CLS]"
    s, t = encode(student, rotten.examples, 64, None), encode(teacher, rotten.examples, 64, None)
    assert positions_align(s, t, student, teacher)
