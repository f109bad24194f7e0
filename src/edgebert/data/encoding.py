"""Tokenization with the checkpoint's own fast tokenizer, at a fixed max_seq_len."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, DataError
from .examples import Example


def load_tokenizer(model_dir: str | Path):
    """The fast tokenizer saved with the checkpoint (offline: never touches a hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, BertTokenizerFast

    model_dir = Path(model_dir)
    if not ((model_dir / "tokenizer.json").exists() or (model_dir / "vocab.txt").exists()):
        raise CheckpointError(f"no tokenizer in {model_dir} (need tokenizer.json or vocab.txt)",
                              "copy the tokenizer files of the original checkpoint into the folder")
    try:
        if (model_dir / "tokenizer_config.json").exists() or (model_dir / "tokenizer.json").exists():
            tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        else:
            tok = BertTokenizerFast(vocab=str(model_dir / "vocab.txt"))  # v5: vocab_file= is silently ignored
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot load the tokenizer in {model_dir}: {str(exc).splitlines()[0]}",
                              "check the tokenizer files") from None
    if not getattr(tok, "is_fast", False):
        raise CheckpointError(f"the tokenizer in {model_dir} is not a fast tokenizer", "save a tokenizer.json with it")
    return tok


@dataclass
class Encoded:
    input_ids: torch.Tensor  # [N, L] int64
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    labels: torch.Tensor | None
    truncated: int  # examples longer than max_seq_len

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def batch(self, idx) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[idx], "attention_mask": self.attention_mask[idx],
                "token_type_ids": self.token_type_ids[idx]}


def encode(tokenizer, examples: list[Example], max_seq_len: int, label_names: list[str] | None = None,
           pad_to_max: bool = True) -> Encoded:
    """Tokenize with padding and truncation; counts how many examples were cut."""
    if not examples:
        raise DataError("no examples to encode", "check that the split is not empty")
    if max_seq_len < 8:
        raise DataError(f"max_seq_len {max_seq_len} is too short", "use at least 8 tokens")
    texts = [e.text for e in examples]
    pairs = [e.text_pair or "" for e in examples] if any(e.text_pair is not None for e in examples) else None
    full = tokenizer(texts, pairs, truncation=False, padding=False)["input_ids"]
    truncated = sum(len(ids) > max_seq_len for ids in full)
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_seq_len,
                    padding="max_length" if pad_to_max else "longest", return_tensors="pt",
                    return_token_type_ids=True)
    labels = None
    if label_names is not None:
        index = {n: i for i, n in enumerate(label_names)}
        try:
            labels = torch.tensor([index[e.label] for e in examples], dtype=torch.long)
        except KeyError as exc:
            raise DataError(f"label {exc} is not one of {', '.join(label_names)}", "fix the data's labels") from None
    return Encoded(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels, truncated)
