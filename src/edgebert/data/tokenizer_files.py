"""What an on-device tokenizer needs, derived from ``tokenizer.json``.

WordPiece (BERT family) gets a vocab.txt and its normalizer settings, for runtimes with their
own WordPiece (TFLite metadata, the web demo's module); BPE and Unigram tokenizers have no
such file: tokenizer.json is what a device runs, with the special ids written next to it.

transformers 5 saves a fast tokenizer as ``tokenizer.json`` + ``tokenizer_config.json`` and
no ``vocab.txt``; hub folders often carry both. ``tokenizer.json`` is what the Python
tokenizer really runs, so it is the source of truth: the WordPiece vocabulary (for TFLite
metadata and the web demo) and the special-token ids are read from it, and ``vocab.txt``
only where no ``tokenizer.json`` exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _tokenizer_json(model_dir: Path) -> dict[str, Any] | None:
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})", "re-save the tokenizer with save_pretrained()") \
            from None


def wordpiece_vocab(model_dir: str | Path) -> list[str] | None:
    """The WordPiece vocabulary in id order (None when the tokenizer is not WordPiece)."""
    model_dir = Path(model_dir)
    doc = _tokenizer_json(model_dir)
    if doc is None:
        vocab_txt = model_dir / "vocab.txt"
        return vocab_txt.read_text(encoding="utf-8").splitlines() if vocab_txt.is_file() else None
    model = doc.get("model") or {}
    if model.get("type") != "WordPiece":
        return None
    ids = {tok: int(i) for tok, i in (model.get("vocab") or {}).items()}
    tokens: list[str | None] = [None] * (max(ids.values(), default=-1) + 1)
    for tok, i in ids.items():
        if i < 0 or tokens[i] is not None:
            raise CheckpointError(f"{model_dir / 'tokenizer.json'}: WordPiece id {i} is negative or given twice",
                                  "re-save the tokenizer with save_pretrained()")
        tokens[i] = tok
    # An id no token maps to (a vocab.txt that listed a token twice keeps the last id): a line
    # that never matches text keeps every later line's id right.
    tokens = [t if t is not None else f"[edgebert-unused-{i}]" for i, t in enumerate(tokens)]
    for added in doc.get("added_tokens") or []:  # specials outside model.vocab (rare for WordPiece)
        i = int(added.get("id", -1))
        if i == len(tokens):
            tokens.append(added["content"])
    return tokens


def write_vocab_txt(model_dir: str | Path, dest: str | Path) -> bool:
    """Write ``dest`` (vocab.txt) from the tokenizer's WordPiece vocabulary; False if it has none."""
    vocab = wordpiece_vocab(model_dir)
    if vocab is None:
        return False
    Path(dest).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return True


def _token_id(doc: dict[str, Any], token: Any) -> int | None:
    """The id ``token`` (a string or a saved AddedToken dict) has: added tokens first, then the model's vocab."""
    if isinstance(token, dict):
        token = token.get("content")
    if not isinstance(token, str):
        return None
    for added in doc.get("added_tokens") or []:
        if added.get("content") == token:
            return int(added["id"])
    vocab = (doc.get("model") or {}).get("vocab")
    if isinstance(vocab, dict):
        return int(vocab[token]) if token in vocab else None
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        return next((i for i, (piece, _) in enumerate(vocab) if piece == token), None)
    return None


def _template_ends(post: dict[str, Any]) -> tuple[int | None, int | None]:
    """(first, last) special-token ids the post-processor puts around a single text."""
    kind = post.get("type")
    if kind in ("BertProcessing", "RobertaProcessing"):
        return int(post["cls"][1]), int(post["sep"][1])
    if kind == "TemplateProcessing":
        single = post.get("single") or []
        ids = {name: spec["ids"] for name, spec in (post.get("special_tokens") or {}).items()}
        first = single[0].get("SpecialToken", {}).get("id") if single else None
        last = single[-1].get("SpecialToken", {}).get("id") if single else None
        return (ids[first][0] if first in ids else None), (ids[last][0] if last in ids else None)
    if kind == "Sequence":
        for inner in post.get("processors") or []:
            ends = _template_ends(inner)
            if ends != (None, None):
                return ends
    return None, None


def _model_settings(model_dir: Path, doc: dict[str, Any], seq_len: int) -> dict[str, Any]:
    """BPE / Unigram: tokenizer.json is the tokenizer; these are the ids and the padding and
    truncation the export pipeline applied around it (transformers' defaults unless its config says)."""
    config_path = model_dir / "tokenizer_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config_path} is not valid JSON ({exc})", "re-save the tokenizer with save_pretrained()") \
            from None
    model = doc.get("model") or {}
    kind = str(model.get("type", "unknown")).lower()
    settings: dict[str, Any] = {"type": kind, "tokenizer_file": "tokenizer.json", "max_seq_len": seq_len,
                                "padding": "max_length", "padding_side": config.get("padding_side", "right"),
                                "truncation": "longest_first", "truncation_side": config.get("truncation_side", "right")}
    cls_id, sep_id = _template_ends(doc.get("post_processor") or {})
    unk = model.get("unk_id") if kind == "unigram" else _token_id(doc, model.get("unk_token"))
    ids = {"cls": cls_id if cls_id is not None else _token_id(doc, config.get("cls_token")),
           "sep": sep_id if sep_id is not None else _token_id(doc, config.get("sep_token")),
           "bos": _token_id(doc, config.get("bos_token")), "eos": _token_id(doc, config.get("eos_token")),
           "pad": _token_id(doc, config.get("pad_token")), "unk": unk if unk is not None else
           _token_id(doc, config.get("unk_token")), "mask": _token_id(doc, config.get("mask_token"))}
    settings.update({f"{name}_id": int(i) for name, i in ids.items() if i is not None})
    return settings


def tokenizer_settings(model_dir: str | Path, seq_len: int) -> dict[str, Any]:
    """What an on-device tokenizer must reproduce, as HF actually runs it: the WordPiece settings
    (vocab.txt is derived), or for BPE / Unigram the special ids, padding and truncation."""
    model_dir = Path(model_dir)
    doc = _tokenizer_json(model_dir)
    if doc is not None and (doc.get("model") or {}).get("type") not in ("WordPiece", None):
        return _model_settings(model_dir, doc, seq_len)
    settings: dict[str, Any] = {"type": "bert-wordpiece", "vocab_file": "vocab.txt", "max_seq_len": seq_len,
                                "padding": "max_length", "truncation": "longest_first",
                                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100}
    if doc is not None:
        norm = doc.get("normalizer") or {}
        if norm.get("type") == "BertNormalizer":
            lower = bool(norm.get("lowercase", True))
            strip = norm.get("strip_accents")
            settings.update(do_lower_case=lower, strip_accents=lower if strip is None else bool(strip),
                            tokenize_chinese_chars=bool(norm.get("handle_chinese_chars", True)),
                            clean_text=bool(norm.get("clean_text", True)))
        model = doc.get("model") or {}
        settings["continuing_subword_prefix"] = model.get("continuing_subword_prefix", "##")
        settings["max_input_chars_per_word"] = model.get("max_input_chars_per_word", 100)
        settings["unk_token"] = model.get("unk_token", "[UNK]")
    ids = {tok: i for i, tok in enumerate(wordpiece_vocab(model_dir) or [])}
    for name in SPECIAL_TOKENS:
        if name in ids:
            settings[f"{name.strip('[]').lower()}_id"] = ids[name]
    return settings
