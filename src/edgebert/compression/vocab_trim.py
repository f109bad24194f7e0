"""Vocabulary trimming: keep the WordPiece tokens a task uses, and the embedding rows they index.

In a 3-layer, 384-wide student the 30,522 x 384 word-embedding table is over half the
parameters. Keeping the tokens seen in the training corpus (at least ``min_frequency``
times), every special token, and every single-character token (``x`` and ``##x``) shrinks
it several-fold while any text still tokenizes: WordPiece is greedy longest-match-first,
so a word whose pieces were all kept splits exactly as before, and an unseen word falls
back to shorter kept pieces, down to single characters, instead of [UNK].

The trimmed tokenizer is rebuilt with ``transformers.BertTokenizerFast`` from the new
vocab.txt and the original normalizer settings, so tokenizer.json, vocab.txt and the
bundle's edgebert_tokenizer.json all describe the same thing the model was remapped to.
Byte-level BPE and Unigram tokenizers are trimmed by editing their tokenizer.json
(``vocab_trim_models``); their fallback alphabet is every single byte or character.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.examples import Example
from ..data.tokenizer_files import tokenizer_settings
from ..errors import EdgebertError
from . import vocab_trim_models as models

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
UNSUPPORTED_HINT = "drop the trim_vocab stage, or start from a WordPiece, BPE or Unigram tokenizer"


def _plain_backend(tok):
    backend = copy.deepcopy(tok.backend_tokenizer)  # encode() may have left padding/truncation switched on
    backend.no_padding()
    backend.no_truncation()
    return backend


def _encode_ids(tok, examples: list[Example]) -> list[list[int]]:
    backend = _plain_backend(tok)
    pairs = [(e.text, e.text_pair) if e.text_pair else e.text for e in examples]
    return [enc.ids for enc in backend.encode_batch(pairs, add_special_tokens=False)]


def token_counts(tok, examples: list[Example]) -> Counter:
    counts: Counter = Counter()
    for ids in _encode_ids(tok, examples):
        counts.update(ids)
    return counts


def is_single_char(token: str, prefix: str = "##") -> bool:
    return len(token) == 1 or (token.startswith(prefix) and len(token) == len(prefix) + 1)


def choose_tokens(vocab: dict[int, str], counts: Counter, min_frequency: int, specials: set[str],
                  keep_single_chars: bool = True, fallback=is_single_char) -> list[int]:
    """Old ids to keep, in their original order (``vocab`` is id -> token; ids may have gaps)."""
    return [i for i, t in sorted(vocab.items())
            if t in specials or counts.get(i, 0) >= min_frequency or (keep_single_chars and fallback(t))]


def fully_seen(tok, examples: list[Example], kept: set[int]) -> list[bool]:
    """Per example: are all its tokens (original tokenizer) kept? Those must score exactly as before."""
    return [all(i in kept for i in x) for x in _encode_ids(tok, examples)]


def unseen_rate(tok, examples: list[Example], kept: set[int]) -> dict:
    """Share of tokens (original tokenizer) outside the kept vocabulary, and of examples with any."""
    ids = _encode_ids(tok, examples)
    total = sum(len(x) for x in ids)
    miss = sum(1 for x in ids for i in x if i not in kept)
    with_miss = sum(1 for x in ids if any(i not in kept for i in x))
    return {"tokens": total, "unseen_tokens": miss, "unseen_token_rate": round(miss / max(total, 1), 5),
            "examples": len(ids), "examples_with_unseen": with_miss,
            "example_unseen_rate": round(with_miss / max(len(ids), 1), 5)}


def _settings(tok_dir: Path) -> dict:
    return tokenizer_settings(Path(tok_dir), 0)


def build_tokenizer(tok_dir: Path, tokens: list[str], out: Path, like=None):
    """A BertTokenizerFast over ``tokens`` with ``tok_dir``'s normalizer settings, saved to ``out``.

    ``like`` (the original tokenizer) also lends its exact normalizer and pre-tokenizer
    objects (options such as clean_text survive) and its model_max_length, so HF users who
    truncate by default still stop at the model's positions.
    """
    from transformers import BertTokenizerFast

    s = _settings(tok_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab_file = out / "vocab.txt"
    vocab_file.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    opts = {"do_lower_case": s.get("do_lower_case", True), "strip_accents": s.get("strip_accents"),
            "tokenize_chinese_chars": s.get("tokenize_chinese_chars", True)}
    norm = getattr(like.backend_tokenizer, "normalizer", None) if like is not None else None
    if type(norm).__name__ == "BertNormalizer":  # raw values, so tokenizer_config.json reads like the original's
        opts = {"do_lower_case": norm.lowercase, "strip_accents": norm.strip_accents,
                "tokenize_chinese_chars": norm.handle_chinese_chars}
    if like is not None and like.model_max_length < 10**9:
        opts["model_max_length"] = like.model_max_length
    tok = BertTokenizerFast({t: i for i, t in enumerate(tokens)}, unk_token=s.get("unk_token", "[UNK]"), **opts)
    backend = tok.backend_tokenizer
    if like is not None:
        backend.normalizer = copy.deepcopy(like.backend_tokenizer.normalizer)
        backend.pre_tokenizer = copy.deepcopy(like.backend_tokenizer.pre_tokenizer)
    model = backend.model
    model.continuing_subword_prefix = s.get("continuing_subword_prefix", "##")
    model.max_input_chars_per_word = int(s.get("max_input_chars_per_word", 100))
    tok.save_pretrained(str(out))
    return tok


@dataclass
class TrimResult:
    old_ids: list[int]
    tokens: list[str]
    tokenizer: object


def trim(model, tok, tok_dir: Path, examples: list[Example], out_tok_dir: Path, min_frequency: int = 1,
         keep_single_chars: bool = True) -> TrimResult:
    """Trim ``model``'s word embeddings in place and write the matching tokenizer to ``out_tok_dir``."""
    vocab = {i: t for t, i in tok.get_vocab().items()}
    if max(vocab) >= model.config.vocab_size:  # more rows than tokens is common (padded tables): those go
        raise EdgebertError(f"the tokenizer has ids up to {max(vocab)} but the model's embedding only "
                            f"{model.config.vocab_size} rows", "trim a student whose tokenizer matches its embeddings")
    if not examples:
        raise EdgebertError("trim_vocab has no training text to count tokens on", "give the recipe training data")
    specials = set(SPECIALS) | set(tok.all_special_tokens) | {str(t) for t in tok.added_tokens_decoder.values()}
    counts = token_counts(tok, examples)
    doc = json.loads(_plain_backend(tok).to_str())
    kind = doc["model"]["type"]
    if kind == "WordPiece":
        old_ids = choose_tokens(vocab, counts, min_frequency, specials, keep_single_chars)
        tokens = [vocab[i] for i in old_ids]
        new_tok = build_tokenizer(tok_dir, tokens, out_tok_dir, like=tok)
    elif kind in models.MODELS:
        chosen = choose_tokens(vocab, counts, min_frequency, specials, keep_single_chars,
                               models.is_fallback)
        keep = models.close(doc["model"], {vocab[i] for i in chosen})
        old_ids = [i for i, t in sorted(vocab.items()) if t in keep]
        tokens = [vocab[i] for i in old_ids]
        new_id = {t: k for k, t in enumerate(tokens)}
        new_tok = models.save_like(tok, models.edit_tokenizer_json(doc, new_id), new_id, out_tok_dir)
    else:
        raise EdgebertError(f"vocabulary trimming cannot edit a {kind} tokenizer", UNSUPPORTED_HINT)
    # the promise: text made only of kept pieces tokenizes exactly as before
    remap = {old: new for new, old in enumerate(old_ids)}
    before, after = _encode_ids(tok, examples), _encode_ids(new_tok, examples)
    for b, a, e in zip(before, after, examples):
        if all(i in remap for i in b) and [remap[i] for i in b] != a:
            raise EdgebertError(f"trimmed tokenizer splits {e.text[:60]!r} differently from the original",
                                "this is a bug in edgebert's vocabulary trimming; please report it")
    emb = model.embeddings.word_embeddings
    pad = remap.get(model.config.pad_token_id, 0)
    new = torch.nn.Embedding(len(old_ids), emb.embedding_dim, padding_idx=pad)
    with torch.no_grad():
        new.weight.copy_(emb.weight[torch.tensor(old_ids)])
    new.to(emb.weight.device)
    model.embeddings.word_embeddings = new
    model.config.vocab_size = len(old_ids)
    model.config.pad_token_id = pad
    return TrimResult(old_ids, tokens, new_tok)
