import pytest
import torch

from edgebert.data import Example, encode, load_tokenizer
from edgebert.errors import CheckpointError, DataError


def test_fixed_length_padding_and_truncation_report(hf_bert_dir):
    tok = load_tokenizer(hf_bert_dir)
    examples = [Example("great film", "pos"), Example(" ".join(["boring"] * 40), "neg")]
    enc = encode(tok, examples, 16, ["neg", "pos"])
    assert enc.input_ids.shape == (2, 16) and enc.input_ids.dtype == torch.long
    assert enc.truncated == 1
    assert enc.attention_mask[0].sum() == 4  # [CLS] great film [SEP]
    assert enc.labels.tolist() == [1, 0]


def test_pairs_get_segment_ids(hf_bert_dir):
    tok = load_tokenizer(hf_bert_dir)
    enc = encode(tok, [Example("the plot", "pos", text_pair="was dull")], 12, ["neg", "pos"])
    assert enc.token_type_ids[0, :4].tolist() == [0, 0, 0, 0]
    assert enc.token_type_ids[0, 4:7].tolist() == [1, 1, 1]


def test_tokenizer_errors(tmp_path, hf_bert_dir):
    with pytest.raises(CheckpointError, match="no tokenizer"):
        load_tokenizer(tmp_path)
    with pytest.raises(DataError, match="not one of"):
        encode(load_tokenizer(hf_bert_dir), [Example("x", "maybe")], 16, ["neg", "pos"])
    with pytest.raises(DataError, match="no examples"):
        encode(load_tokenizer(hf_bert_dir), [], 16)


def test_vocab_txt_only_folder_tokenizes_known_words(tmp_path, hf_bert_dir):
    from builders import tiny_vocab

    (tmp_path / "vocab.txt").write_text("\n".join(tiny_vocab()) + "\n")  # an old hub repo: vocab.txt alone
    tok = load_tokenizer(tmp_path)
    ids = tok("Great film")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "great", "film", "[SEP]"]
    # and it agrees with the folder's own tokenizer.json
    assert load_tokenizer(hf_bert_dir)("Great film")["input_ids"] == ids
