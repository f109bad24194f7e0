"""What an on-device tokenizer is given (edgebert.data.tokenizer_files).

The phone and web tokenizers look tokens up by line number in vocab.txt and use the special
ids from the bundle: a vocabulary one line off, or a [PAD] id assumed to be 0, gives wrong
predictions with no error anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import SPECIAL, tiny_vocab, write_tokenizer
from edgebert.data.tokenizer_files import tokenizer_settings, wordpiece_vocab, write_vocab_txt
from edgebert.errors import CheckpointError


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A tokenizer saved by the pinned transformers (tokenizer.json, no vocab.txt)."""
    path = tmp_path_factory.mktemp("tok") / "t"
    write_tokenizer(path)
    return path


def _edited(saved: Path, out: Path, edit) -> Path:
    """A copy of ``saved`` whose tokenizer.json was changed by ``edit(doc)``."""
    out.mkdir()
    doc = json.loads((saved / "tokenizer.json").read_text())
    edit(doc)
    (out / "tokenizer.json").write_text(json.dumps(doc))
    return out


def test_the_vocabulary_of_a_saved_tokenizer(saved):
    assert not (saved / "vocab.txt").exists()
    assert wordpiece_vocab(saved) == tiny_vocab()


def test_tokenizer_json_wins_over_vocab_txt(saved, tmp_path):
    """Hub folders carry both; the Python tokenizer runs tokenizer.json."""
    both = _edited(saved, tmp_path / "hub", lambda doc: None)
    (both / "vocab.txt").write_text("\n".join(reversed(tiny_vocab())) + "\n")
    assert wordpiece_vocab(both) == tiny_vocab()


def test_a_vocab_txt_only_folder(tmp_path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "##s", "world"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    assert wordpiece_vocab(tmp_path) == words
    assert wordpiece_vocab(tmp_path / "absent") is None


def test_a_gap_in_ids_keeps_every_later_id_on_its_line(saved, tmp_path):
    vocab = tiny_vocab()
    gone = vocab.index("film")
    folder = _edited(saved, tmp_path / "gap", lambda doc: doc["model"]["vocab"].pop("film"))
    got = wordpiece_vocab(folder)
    assert len(got) == len(vocab)
    assert got[:gone] == vocab[:gone] and got[gone + 1:] == vocab[gone + 1:]
    assert got[gone] not in vocab and got[gone].startswith("[")  # a line no text can match
    write_vocab_txt(folder, tmp_path / "vocab.txt")
    lines = (tmp_path / "vocab.txt").read_text().splitlines()
    assert lines.index("great") == vocab.index("great") and lines[-1] == vocab[-1]


def test_a_repeated_id_is_one_line(saved, tmp_path):
    def repeat(doc):
        doc["model"]["vocab"]["film"] = doc["model"]["vocab"]["movie"]

    folder = _edited(saved, tmp_path / "dup", repeat)
    with pytest.raises(CheckpointError) as info:
        wordpiece_vocab(folder)
    err = info.value
    assert "\n" not in err.message and str(folder / "tokenizer.json") in err.message
    assert f"id {tiny_vocab().index('movie')}" in err.message


def test_a_broken_tokenizer_json_is_one_line(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": ')
    with pytest.raises(CheckpointError) as info:
        wordpiece_vocab(tmp_path)
    assert "is not valid JSON" in info.value.message and "\n" not in info.value.message


def test_a_bpe_tokenizer_has_no_wordpiece_vocabulary(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    vocab = {"[UNK]": 0, "a": 1, "b": 2, "ab": 3}
    Tokenizer(BPE(vocab=vocab, merges=[("a", "b")], unk_token="[UNK]")).save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "vocab.txt").write_text("a\nb\n")  # tokenizer.json still decides
    assert wordpiece_vocab(tmp_path) is None
    assert write_vocab_txt(tmp_path, tmp_path / "out.txt") is False and not (tmp_path / "out.txt").exists()


def test_special_ids_are_read_not_assumed(tmp_path):
    """Specials anywhere in the vocabulary (not 0..4): the ids must be the ones HF uses."""
    from transformers import AutoTokenizer, BertTokenizerFast

    words = [w for w in tiny_vocab() if w not in SPECIAL]
    order = words[:7] + ["[SEP]", "[MASK]"] + words[7:20] + ["[CLS]", "[UNK]"] + words[20:] + ["[PAD]"]
    BertTokenizerFast(vocab={t: i for i, t in enumerate(order)}, do_lower_case=False).save_pretrained(tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    s = tokenizer_settings(tmp_path, 64)
    assert (s["pad_id"], s["unk_id"], s["cls_id"], s["sep_id"], s["mask_id"]) == (
        hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id, hf.mask_token_id)
    assert s["pad_id"] == len(order) - 1
    assert s["do_lower_case"] is False and s["strip_accents"] is False and s["max_seq_len"] == 64


def test_settings_of_a_lowercasing_tokenizer(saved):
    s = tokenizer_settings(saved, 128)
    ids = {t: i for i, t in enumerate(tiny_vocab())}
    assert {k: s[f"{k.strip('[]').lower()}_id"] for k in SPECIAL} == {k: ids[k] for k in SPECIAL}
    assert s["do_lower_case"] is True and s["strip_accents"] is True  # None follows lowercase, as in HF
    assert s["unk_token"] == "[UNK]" and s["continuing_subword_prefix"] == "##"


TEXTS = ["The movie was great, but the ending was boring!", "Naïve café résumé", "I loved it", "worst film ever"] * 5


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_settings_of_a_non_wordpiece_tokenizer(kind, tmp_path):
    """tokenizer.json is what the device runs: the ids written next to it must be the ones the
    Python tokenizer puts around a pair and pads with (RoBERTa's <s>=0 </s>=2 <pad>=1, not BERT's)."""
    from tokenizer_kinds import write_bpe_tokenizer, write_unigram_tokenizer
    from edgebert.data import load_tokenizer

    folder = (write_bpe_tokenizer if kind == "bpe" else write_unigram_tokenizer)(tmp_path / kind, TEXTS, vocab_size=300)
    hf = load_tokenizer(folder)
    s = tokenizer_settings(folder, 32)
    assert s["type"] == kind and s["tokenizer_file"] == "tokenizer.json" and "vocab_file" not in s
    assert (s["max_seq_len"], s["padding"], s["padding_side"], s["truncation"]) == (32, "max_length", "right",
                                                                                    "longest_first")
    ids = hf("the movie", "was great")["input_ids"]
    assert (ids[0], ids[-1]) == (s["cls_id"], s["sep_id"])
    assert (s["pad_id"], s["unk_id"], s["mask_id"]) == (hf.pad_token_id, hf.unk_token_id, hf.mask_token_id)
    padded = hf("the movie", padding="max_length", max_length=32)["input_ids"]
    assert padded[-1] == s["pad_id"]
    if kind == "bpe":
        assert (s["bos_id"], s["eos_id"]) == (hf.bos_token_id, hf.eos_token_id) == (ids[0], ids[-1])
        assert (s["cls_id"], s["pad_id"], s["sep_id"]) == (0, 1, 2)
    assert wordpiece_vocab(folder) is None and write_vocab_txt(folder, tmp_path / "vocab.txt") is False


def test_a_left_padding_tokenizer_says_so(tmp_path):
    from tokenizer_kinds import write_bpe_tokenizer
    from edgebert.data import load_tokenizer

    folder = write_bpe_tokenizer(tmp_path / "bpe", TEXTS, vocab_size=300)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "padding_side": "left"}))
    assert load_tokenizer(folder)("the", padding="max_length", max_length=8)["input_ids"][0] == 1  # Python pads left
    assert tokenizer_settings(folder, 8)["padding_side"] == "left"
