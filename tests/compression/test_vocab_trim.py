"""Vocabulary trimming: seen text is untouched, any text still tokenizes, and the bundle agrees."""

from __future__ import annotations

import copy

import pytest
import torch

from builders import tiny_vocab_ids
from edgebert.compression.run_recipe import REPORT_NAME, compress
from edgebert.compression.recipe import parse_recipe
from edgebert.compression.vocab_trim import SPECIALS, is_single_char, trim
from edgebert.data import Example, encode, load_tokenizer
from edgebert.errors import EdgebertError
from edgebert.model import load_model

SEEN = ["the film was great", "a very boring plot", "the acting is superb", "it was awful and dull"]
UNSEEN = ["wonderful charming movie!", "tedious, messy story", "Café naïve résumé", "映画 is 😀 good", "zzzqx 123",
          "", "   ", "BRILLIANT!!!"]


def _examples(texts):
    return [Example(t, "pos") for t in texts]


@pytest.fixture()
def trimmed(teacher_dir, tmp_path):
    model = load_model(teacher_dir).eval()
    tok = load_tokenizer(teacher_dir)
    small = copy.deepcopy(model)
    res = trim(small, tok, teacher_dir, _examples(SEEN), tmp_path / "tok")
    return model, tok, small, res


def test_seen_text_tokenizes_the_same_and_logits_do_not_change(trimmed):
    model, tok, small, res = trimmed
    for text in SEEN:
        assert res.tokenizer.tokenize(text) == tok.tokenize(text)
    a, b = encode(tok, _examples(SEEN), 16, None), encode(res.tokenizer, _examples(SEEN), 16, None)
    with torch.no_grad():
        la = model(a.input_ids, a.attention_mask, a.token_type_ids)
        lb = small(b.input_ids, b.attention_mask, b.token_type_ids)
    assert torch.allclose(la, lb, atol=1e-6)


def test_vocab_and_embedding_rows_shrink_together(trimmed):
    model, tok, small, res = trimmed
    assert len(res.tokens) < len(tok.get_vocab())
    assert small.embeddings.word_embeddings.num_embeddings == len(res.tokens) == small.config.vocab_size
    assert res.tokenizer.convert_tokens_to_ids("[PAD]") == small.config.pad_token_id
    assert "wonderful" not in res.tokens and "great" in res.tokens
    assert set(SPECIALS) <= set(res.tokens)


def _words(tokens: list[str]) -> list[str]:
    """WordPiece tokens joined back into the words they split (an [UNK] stands for one word)."""
    words: list[str] = []
    for t in tokens:
        if t.startswith("##") and words:
            words[-1] += t[2:]
        else:
            words.append(t)
    return words


@pytest.mark.parametrize("text", UNSEEN)
def test_any_text_still_tokenizes_with_no_new_unknowns(trimmed, text):
    """Word for word the same text; a word the full vocab could not spell stays one [UNK], and
    only those: no word is lost, merged, split differently by the normalizer or newly [UNK]."""
    _, tok, _, res = trimmed
    old, new = tok.tokenize(text), res.tokenizer.tokenize(text)
    assert _words(new) == _words(old)


def test_unseen_texts_exercise_resplitting_and_unknown_words(trimmed):
    """The inputs above mean something: some words are re-split into kept pieces, and some
    texts mix [UNK] words (CJK characters, emoji) with words that must survive around them."""
    _, tok, _, res = trimmed
    pairs = [(tok.tokenize(t), res.tokenizer.tokenize(t)) for t in UNSEEN]
    assert any(old != new for old, new in pairs)
    assert any("[UNK]" in old and len(set(_words(old)) - {"[UNK]"}) >= 2 for old, _ in pairs)
    assert any(old.count("[UNK]") >= 2 for old, _ in pairs)


def test_min_frequency_drops_rare_tokens_but_keeps_single_characters(teacher_dir, tmp_path):
    model = load_model(teacher_dir)
    tok = load_tokenizer(teacher_dir)
    res = trim(model, tok, teacher_dir, _examples(SEEN), tmp_path / "tok", min_frequency=10**6)
    assert all(t in SPECIALS or is_single_char(t) for t in res.tokens)
    assert "a" in res.tokens and "##z" in res.tokens
    assert res.tokenizer.tokenize("great") == ["g", "##r", "##e", "##a", "##t"]


def test_empty_corpus_is_a_clear_error(teacher_dir, tmp_path):
    with pytest.raises(EdgebertError, match="no training text"):
        trim(load_model(teacher_dir), load_tokenizer(teacher_dir), teacher_dir, [], tmp_path / "tok")


BASE = {"max_seq_len": 16, "batch_size": 16, "student": {"init": "teacher_layers", "layers": [0, 2]}}


def test_trim_vocab_must_be_the_last_stage(teacher_dir, labelled, tmp_path):
    doc = {**BASE, "stages": [{"type": "trim_vocab"}, {"type": "distill", "phase": "prediction"}]}
    with pytest.raises(EdgebertError) as err:
        compress(teacher_dir, labelled, parse_recipe(doc), tmp_path / "s", latency_runs=0, max_steps=2)
    assert "recipe stage 1 (trim_vocab): trim_vocab must be the last stage" in err.value.one_line()


@pytest.fixture(scope="module")
def trimmed_student(teacher_dir, labelled, tmp_path_factory):
    doc = {**BASE, "stages": [{"type": "distill", "phase": "prediction", "epochs": 1}, {"type": "trim_vocab"}]}
    out = tmp_path_factory.mktemp("trim") / "s"
    rep = compress(teacher_dir, labelled, parse_recipe(doc), out, latency_runs=0, max_steps=3,
                   max_train_examples=12)
    return out, rep


def test_compress_writes_the_trimmed_tokenizer_with_the_student(trimmed_student, teacher_dir):
    out, rep = trimmed_student
    info = rep["stages"][-1]
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    model = load_model(out)
    assert len(vocab) == model.config.vocab_size == info["vocab_after"] < info["vocab_before"]
    assert load_tokenizer(out).get_vocab() == {t: i for i, t in enumerate(vocab)}
    assert info["unseen_test"]["tokens"] > 0 and 0 <= info["unseen_test"]["unseen_token_rate"] <= 1
    assert info["parameters_after"] < info["parameters_before"]
    assert rep["student"]["parameters"] == info["parameters_after"]
    assert model.config.provenance["vocab_trim"]["vocab_after"] == len(vocab)
    seen = info["dev_seen_only"]
    assert 0 < seen["examples"] and seen["accuracy_before"] == seen["accuracy_after"] and seen["max_logit_diff"] < 1e-5
    assert info["dev_accuracy_after"] == info["dev_accuracy"] == rep["student"]["dev"]["accuracy"]
    assert (out / REPORT_NAME).exists()


def test_onnx_bundle_of_trimmed_student_carries_its_vocab_and_passes(trimmed_student, labelled, tmp_path):
    from edgebert.exporters.export import ExportOptions, export_model

    out, _ = trimmed_student
    (res,) = export_model(out, labelled, tmp_path, ExportOptions(["onnx"], seq_len=16, calib_size=4, eval_limit=12))
    assert res.passed
    assert (res.path / "vocab.txt").read_text() == (out / "vocab.txt").read_text()


def test_resumed_run_reads_the_trimmed_tokenizer_from_the_done_stage(trimmed_student, teacher_dir, labelled,
                                                                    tmp_path):
    """Every stage already done: the student and its tokenizer both come from the trim stage's result."""
    import shutil

    from safetensors.torch import load_file

    from edgebert.compression.run_recipe import WORK_NAME

    doc = {**BASE, "stages": [{"type": "distill", "phase": "prediction", "epochs": 1}, {"type": "trim_vocab"}]}
    out = tmp_path / "s"
    args = dict(latency_runs=0, max_steps=3, max_train_examples=12)
    first = compress(teacher_dir, labelled, parse_recipe(doc), out, keep_work=True, **args)
    shutil.rmtree(out / WORK_NAME / "stage-2" / "tokenizer")  # only stage-2/result may be read on resume
    again = compress(teacher_dir, labelled, parse_recipe(doc), out, **args)
    assert again["resumed"] and again["stages"] == first["stages"]
    assert again["student"]["test"] == first["student"]["test"]
    vocab = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == load_model(out).config.vocab_size == first["stages"][-1]["vocab_after"]
    assert vocab == (trimmed_student[0] / "vocab.txt").read_text(encoding="utf-8").splitlines()
    a = load_file(str(trimmed_student[0] / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6


def test_trimmed_tokenizer_keeps_the_original_text_settings(teacher_dir, tmp_path):
    """Non-default strip_accents and model_max_length survive into tokenizer.json and tokenizer_config.json."""
    import json
    import shutil

    from transformers import BertTokenizerFast

    src = tmp_path / "orig"
    shutil.copytree(teacher_dir, src)
    BertTokenizerFast(vocab=tiny_vocab_ids(), do_lower_case=True, strip_accents=False,
                      model_max_length=48).save_pretrained(str(src))
    tok = load_tokenizer(src)
    assert tok.tokenize("café") != load_tokenizer(teacher_dir).tokenize("café")  # the setting matters
    res = trim(load_model(src), tok, src, _examples(SEEN), tmp_path / "tok")
    norm = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["normalizer"]
    assert norm == json.loads((src / "tokenizer.json").read_text())["normalizer"]
    assert json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())["strip_accents"] is False
    again = load_tokenizer(tmp_path / "tok")
    assert again.model_max_length == res.tokenizer.model_max_length == 48
    for text in ["Café naïve", "the film was great", "ÉLAN"]:
        assert again.tokenize(text) == res.tokenizer.tokenize(text)
        assert "".join(again.tokenize(text)).replace("#", "") == "".join(tok.tokenize(text)).replace("#", "")
