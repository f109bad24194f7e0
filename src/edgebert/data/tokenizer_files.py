"""What an on-device tokenizer needs, derived from ``tokenizer.json``.

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


def tokenizer_settings(model_dir: str | Path, seq_len: int) -> dict[str, Any]:
    """The WordPiece settings an on-device tokenizer must reproduce, as HF actually runs them."""
    model_dir = Path(model_dir)
    settings: dict[str, Any] = {"type": "bert-wordpiece", "vocab_file": "vocab.txt", "max_seq_len": seq_len,
                                "padding": "max_length", "truncation": "longest_first",
                                "continuing_subword_prefix": "##", "max_input_chars_per_word": 100}
    doc = _tokenizer_json(model_dir)
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
