"""Intermediate losses across two tokenizers: allowed exactly when every position lines up."""

import pytest

import builders
from edgebert.compression.recipe import parse_recipe
from edgebert.compression.run_recipe import compress
from edgebert.compression.token_alignment import positions_align
from edgebert.data import Example, encode, load_tokenizer

ROWS = [Example(t, l) for t, l in builders.sentiment_rows(40, seed=5)]


@pytest.fixture(scope="module")
def bert_tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("bert-tok")
    builders.write_tokenizer(path)
    return load_tokenizer(path)


def _mpnet_tok(path, **kw):
    builders.write_mpnet_tokenizer(path, **kw)
    return load_tokenizer(path)


def _align(a, b, examples=ROWS):
    return positions_align(encode(a, examples, 24, None), encode(b, examples, 24, None), a, b)


def test_same_word_pieces_with_other_special_tokens_align(bert_tok, tmp_path):
    mpnet = _mpnet_tok(tmp_path / "m")
    assert mpnet.cls_token == "<s>" and mpnet.get_vocab()["<s>"] != bert_tok.get_vocab()["[CLS]"]
    assert _align(bert_tok, mpnet) and _align(mpnet, bert_tok)
    unknown = [Example("great \u2603 film", "pos")]  # a word neither vocabulary spells: [UNK] on both sides
    assert bert_tok.convert_ids_to_tokens(encode(bert_tok, unknown, 8, None).input_ids[0])[2] == "[UNK]"
    assert _align(bert_tok, mpnet, unknown)


def test_one_word_split_differently_breaks_alignment(bert_tok, tmp_path):
    """Without "great" the MPNet-style vocabulary spells it in pieces: positions shift."""
    mpnet = _mpnet_tok(tmp_path / "m", drop=("great",))
    with_great = [e for e in ROWS if "great" in e.text.split()]
    assert with_great and not _align(bert_tok, mpnet, with_great)
    without = [e for e in ROWS if "great" not in e.text.lower()]
    assert _align(bert_tok, mpnet, without)


def test_same_length_but_another_token_breaks_alignment(bert_tok, tmp_path):
    """Without "great" and "g" the word becomes one <unk>: lengths agree, tokens do not."""
    mpnet = _mpnet_tok(tmp_path / "m", drop=("great", "g"))
    with_great = [e for e in ROWS if "great" in e.text.split()]
    a, b = encode(bert_tok, with_great, 24, None), encode(mpnet, with_great, 24, None)
    assert (a.attention_mask == b.attention_mask).all()
    assert not positions_align(a, b, bert_tok, mpnet)


def test_sentence_pairs_with_roberta_separators_do_not_align(bert_tok, tmp_path):
    mpnet = _mpnet_tok(tmp_path / "m")
    pairs = [Example(e.text, e.label, "the film") for e in ROWS[:8]]
    assert not _align(bert_tok, mpnet, pairs)  # [SEP] B [SEP] vs </s></s> B </s>


def test_byte_level_bpe_does_not_align_with_wordpiece(bert_tok, tmp_path):
    from tokenizer_kinds import write_bpe_tokenizer

    write_bpe_tokenizer(tmp_path / "bpe", [e.text for e in ROWS], vocab_size=200)
    assert not _align(bert_tok, load_tokenizer(tmp_path / "bpe"))


def _recipe(student_path, phase="intermediate"):
    return parse_recipe({"max_seq_len": 16, "batch_size": 16, "checkpoint_every": 50,
                         "student": {"init": "checkpoint", "path": str(student_path), "layers": [1]},
                         "stages": [{"type": "distill", "phase": phase, "max_steps": 3}]})


@pytest.fixture(scope="module")
def mpnet_teacher(tmp_path_factory):
    """An MPNet classifier whose tokenizer has MPNet's special tokens, like all-mpnet-base-v2's."""
    return builders.make_family_classifier(tmp_path_factory.mktemp("mpnet") / "t", "mpnet", mpnet_specials=True,
                                           train_steps=5)


def test_student_with_its_own_aligned_tokenizer_gets_intermediate_losses(mpnet_teacher, labelled, tmp_path):
    student = builders.make_hf_bert(tmp_path / "student", layers=2, head=False)
    rep = compress(mpnet_teacher, labelled, _recipe(student), tmp_path / "out", latency_runs=0)
    stage = rep["stages"][0]
    assert stage["weights"]["hidden"] > 0 and stage["weights"]["attention"] > 0
    assert {"hid", "att"} <= set(stage["losses"]) and stage["losses"]["hid"]["mean"] > 0
    assert not any("predictions only" in n for n in rep["notes"])
    assert rep["student"]["layers"] == 1


def test_student_whose_tokens_do_not_line_up_falls_back_to_predictions_and_says_so(mpnet_teacher, labelled,
                                                                                    tmp_path):
    student = builders.make_family_classifier(tmp_path / "student", "roberta", train_steps=0)  # byte-level BPE
    rep = compress(mpnet_teacher, labelled, _recipe(student), tmp_path / "out", latency_runs=0)
    stage = rep["stages"][0]
    assert stage["weights"]["hidden"] == 0 and stage["weights"]["logits"] == 1.0
    assert set(stage["losses"]) >= {"kd"} and "hid" not in stage["losses"]
    assert any("predictions only" in n for n in rep["notes"])
