"""Non-WordPiece tokenizers trained in-process with Python ``tokenizers`` (no downloads),
saved the way transformers 5 saves them (tokenizer.json + tokenizer_config.json).

RoBERTa-style byte-level BPE and an ALBERT-style SentencePiece Unigram (NFKC, lowercase,
whitespace split + Metaspace, [CLS] a [SEP] b [SEP]): the pipelines of the model families
edgebert is adding, small enough to train in a second.
"""

from __future__ import annotations

from pathlib import Path


def _save(tok, path: Path, **special) -> Path:
    from transformers import PreTrainedTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=tok, **special).save_pretrained(str(path))
    return path


def write_bpe_tokenizer(path: Path, texts: list[str], vocab_size: int = 1500) -> Path:
    """RoBERTa's layout: <s> <pad> </s> <unk> <mask> first, <s> a </s></s> b </s>."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return _save(tok, path, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                 sep_token="</s>", mask_token=AddedToken("<mask>", lstrip=True, special=True))


def write_unigram_tokenizer(path: Path, texts: list[str], vocab_size: int = 1500) -> Path:
    """ALBERT's layout: <pad> <unk> [CLS] [SEP] [MASK] first, [CLS] a [SEP] b [SEP] with type ids 0/1."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")])
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], unk_token="<unk>",
        show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return _save(tok, path, unk_token="<unk>", pad_token="<pad>", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token=AddedToken("[MASK]", lstrip=True, special=True))
