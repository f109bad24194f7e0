"""Tiny models, tokenizers and data files built the way users' files are made (no downloads).

Importable from any test (``from builders import make_hf_bert``): pyproject puts tests/ on
the path.
"""

from __future__ import annotations

import random
from pathlib import Path

POSITIVE = ["great", "good", "wonderful", "brilliant", "moving", "funny", "superb", "charming"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "weak", "tedious", "messy"]
UNUSED = ["zebra", "quartz", "volcano", "harbour", "##ing", "##ed", "##ly"]  # no sentiment row uses these
FILLER = ["the", "film", "movie", "was", "a", "plot", "acting", "and", "very", "is", "story", "it"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocab() -> list[str]:
    """A WordPiece vocabulary without repeats (a real one never lists a token twice)."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    words = SPECIAL + POSITIVE + NEGATIVE + FILLER + UNUSED
    return words + [c for c in chars if c not in words] + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]


def tiny_vocab_ids() -> dict[str, int]:
    return {t: i for i, t in enumerate(tiny_vocab())}


def write_tokenizer(path: Path, *, hub_style: bool = False) -> None:
    """Save a tokenizer the way users' folders hold one: transformers 5's ``save_pretrained``
    writes ``tokenizer.json`` + ``tokenizer_config.json`` and no ``vocab.txt``; hub repos
    (``hub_style``) also carry the ``vocab.txt`` their authors uploaded."""
    from transformers import BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(path))
    assert not (path / "vocab.txt").exists()  # the pinned transformers' behaviour these fixtures copy
    if hub_style:
        (path / "vocab.txt").write_text("\n".join(vocab) + "\n")


def write_mpnet_tokenizer(path: Path, *, drop: tuple[str, ...] = ()) -> None:
    """The tiny WordPiece vocabulary with MPNet's special tokens (``<s>`` ``</s>`` ``<pad>``, other ids),
    saved by the pinned transformers: it splits words exactly as write_tokenizer's does (minus ``drop``)."""
    from transformers import MPNetTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    # like all-mpnet-base-v2's: its WordPiece model still spells unknown words [UNK]
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]"] + [t for t in tiny_vocab()
                                                         if t not in SPECIAL and t not in drop]
    vocab.append("<mask>")
    MPNetTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(path))


def _teach(model, path: Path, steps: int, seed: int) -> None:
    """A few real training steps on the sentiment rows: the logits then depend on the words,
    the word order and the attention mask (a default-init BERT gives ~the same logits for
    every input, so a broken export would pass any parity check)."""
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    rows = sentiment_rows(96, seed=seed + 100)
    enc = tok([t for t, _ in rows], padding="max_length", truncation=True, max_length=16, return_tensors="pt")
    names = model.config.id2label
    index = {v: int(k) for k, v in names.items()} if set(names.values()) >= {"pos", "neg"} else {"neg": 0, "pos": 1}
    y = torch.tensor([index[label] for _, label in rows])
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    import inspect

    names_in = ["input_ids", "attention_mask"] + (
        ["token_type_ids"] if "token_type_ids" in enc and "token_type_ids" in inspect.signature(model.forward).parameters
        else [])
    for _ in range(steps):
        idx = torch.randperm(len(rows), generator=g)[:32]
        out = model(**{n: enc[n][idx] for n in names_in}, labels=y[idx])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    with torch.no_grad():  # a distinct [PAD] row: attending to padding then shows in the logits
        pad = tok.pad_token_id if tok.pad_token_id is not None else (model.config.pad_token_id or 0)
        emb = model.get_input_embeddings().weight
        emb[pad] = torch.randn(emb.shape[1], generator=g)
    model.eval()


def make_hf_bert(path: Path, *, head: bool = True, num_labels: int = 2, layers: int = 2, seed: int = 0,
                 id2label: dict | None = None, hub_style: bool = False, train_steps: int = 40) -> Path:
    """Save a tiny BertForSequenceClassification (trained a few steps on the sentiment rows,
    so it really classifies them) or a random BertModel, with its tokenizer, as users save them."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    kw = {}
    if id2label:
        kw = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}}
    cfg = BertConfig(vocab_size=len(tiny_vocab()), hidden_size=32, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=64, num_labels=num_labels, **kw)
    write_tokenizer(path, hub_style=hub_style)
    model = (BertForSequenceClassification(cfg) if head else BertModel(cfg)).eval()
    if head and num_labels == 2 and train_steps:
        _teach(model, path, train_steps, seed)
    model.save_pretrained(str(path))
    return path


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_sentiment_csv(path: Path, n: int, seed: int = 0) -> Path:
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(sentiment_rows(n, seed=seed))
    return path


def make_hf_deberta(path: Path, *, pickle_only: bool = False) -> Path:
    """A tiny random DebertaV2ForSequenceClassification: a family edgebert's encoder does not read,
    so it loads through transformers (the teacher-only path). ``pickle_only`` leaves just
    ``pytorch_model.bin``, written the way older transformers did (``torch.save``): transformers
    5 writes safetensors even when told not to."""
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    torch.manual_seed(0)
    cfg = DebertaV2Config(vocab_size=len(tiny_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=48, max_position_embeddings=64, id2label={0: "neg", 1: "pos"},
                          label2id={"neg": 0, "pos": 1})
    model = DebertaV2ForSequenceClassification(cfg).eval()
    model.save_pretrained(str(path))
    write_tokenizer(path)
    if pickle_only:
        from safetensors.torch import load_file

        state = load_file(str(path / "model.safetensors"))
        (path / "model.safetensors").unlink()
        torch.save(state, path / "pytorch_model.bin")
    return path


def refused(call, *args, **kwargs) -> str:
    """The one-line message of the EdgebertError ``call`` must raise (never a bare OSError or traceback)."""
    import pytest

    from edgebert.errors import EdgebertError

    with pytest.raises(EdgebertError) as info:
        call(*args, **kwargs)
    err = info.value
    assert "\n" not in err.message and "\n" not in (err.hint or "")
    return err.one_line()


FAMILIES = ("bert", "distilbert", "roberta", "electra", "albert", "mpnet", "mobilebert")


def make_family_classifier(path: Path, family: str, *, seed: int = 0, train_steps: int = 40,
                           mpnet_specials: bool = False) -> Path:
    """A tiny classifier of ``family`` with the tokenizer kind that family ships (byte-level BPE for
    RoBERTa, SentencePiece Unigram for ALBERT, WordPiece for the rest), trained a few steps on the
    sentiment rows and saved by the pinned transformers, as a user's fine-tuned folder is."""
    import torch
    import transformers as tf

    path.mkdir(parents=True, exist_ok=True)
    if family == "roberta":
        from tokenizer_kinds import write_bpe_tokenizer

        write_bpe_tokenizer(path, [t for t, _ in sentiment_rows(400, seed=7)], vocab_size=300)
    elif family == "albert":
        from tokenizer_kinds import write_unigram_tokenizer

        write_unigram_tokenizer(path, [t for t, _ in sentiment_rows(400, seed=7)], vocab_size=120)
    elif mpnet_specials:  # as all-mpnet-base-v2 ships: BERT's word pieces, RoBERTa's special tokens
        write_mpnet_tokenizer(path)
    else:
        write_tokenizer(path)
    vocab = len(tf.AutoTokenizer.from_pretrained(str(path)))
    labels = {"id2label": {0: "neg", 1: "pos"}, "label2id": {"neg": 0, "pos": 1}}
    common = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                  **labels)
    if family == "bert":
        cfg, cls = tf.BertConfig(**common, max_position_embeddings=64), tf.BertForSequenceClassification
    elif family == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=48,
                                  max_position_embeddings=64, **labels)
        cls = tf.DistilBertForSequenceClassification
    elif family == "roberta":
        cfg = tf.RobertaConfig(**common, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                               bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
        cls = tf.RobertaForSequenceClassification
    elif family == "electra":
        cfg, cls = tf.ElectraConfig(**common, embedding_size=16, max_position_embeddings=64), \
            tf.ElectraForSequenceClassification
    elif family == "albert":
        cfg = tf.AlbertConfig(**common, embedding_size=16, max_position_embeddings=64, pad_token_id=0)
        cls = tf.AlbertForSequenceClassification
    elif family == "mpnet":
        cfg = tf.MPNetConfig(**common, max_position_embeddings=66, pad_token_id=0, layer_norm_eps=1e-5)
        cls = tf.MPNetForSequenceClassification
    elif family == "mobilebert":  # as released (NoNorm, trigram input, stacked FFNs), only tiny
        cfg = tf.MobileBertConfig(**common, embedding_size=16, intra_bottleneck_size=16, num_feedforward_networks=2,
                                  max_position_embeddings=64)
        cls = tf.MobileBertForSequenceClassification
    else:
        raise ValueError(family)
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    if train_steps:
        _teach(model, path, train_steps, seed)
    model.save_pretrained(str(path))
    return path
