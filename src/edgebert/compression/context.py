"""What every stage shares: the teacher, tokenizers, the data splits and encoded training sets.

Student and teacher share a tokenizer in the usual case (students copied from the
teacher or random with its vocabulary); a student from another checkpoint may bring its
own, and then each side gets its own encoding of the same examples (only logit losses
are possible then, since token positions no longer line up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import Encoded, encode
from ..data.examples import Example, examples_hash
from ..disk_cache import cached_tensor
from ..inference import run_batches
from .teacher_model import Teacher

IGNORE = -100  # label of augmented / unlabelled text: never trained against gold labels


@dataclass
class TrainSet:
    examples: list[Example]
    student: Encoded
    teacher: Encoded  # the same object when the tokenizers agree
    labels: torch.Tensor  # gold label id, or IGNORE
    key: str

    @property
    def lengths(self) -> torch.Tensor:
        return self.student.attention_mask.sum(1)

    def __len__(self) -> int:
        return len(self.examples)

    def batch(self, idx: torch.Tensor, device, side: str = "student") -> dict[str, torch.Tensor]:
        enc = self.student if side == "student" else self.teacher
        width = max(1, int(enc.attention_mask[idx].sum(1).max()))
        return {k: v[:, :width].to(device) for k, v in enc.batch(idx).items()}


@dataclass
class Context:
    teacher: Teacher
    tokenizer: object
    teacher_tokenizer: object
    shared_tokens: bool
    label_names: list[str]
    train: list[Example]
    dev: list[Example]
    max_seq_len: int
    seed: int
    batch_size: int
    eval_batch_size: int
    checkpoint_every: int
    work: Path
    max_steps: int | None = None
    augmented: list[Example] = field(default_factory=list)
    tokenizer_dir: Path | None = None  # where the student's tokenizer files are
    notes: list[str] = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def switch_tokenizer(self, tokenizer, tokenizer_dir: Path) -> None:
        """After vocabulary trimming the student reads its own ids; the teacher keeps its tokenizer."""
        if self.shared_tokens:
            self.teacher_tokenizer = self.tokenizer
        self.tokenizer, self.tokenizer_dir, self.shared_tokens = tokenizer, Path(tokenizer_dir), False
        self._cache = {}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            from ..progress import console

            console.print(f"[yellow]note:[/] {text}")

    def _encode(self, tok, examples: list[Example]) -> Encoded:
        return encode(tok, examples, self.max_seq_len, None)

    def train_set(self, use_augmented: bool = True, examples: list[Example] | None = None) -> TrainSet:
        """Gold training examples (+ augmented copies, labelled IGNORE), encoded once and cached."""
        if examples is None:
            examples = self.train + (self.augmented if use_augmented else [])
        key = examples_hash(examples)
        if key not in self._cache:
            s = self._encode(self.tokenizer, examples)
            t = s if self.shared_tokens else self._encode(self.teacher_tokenizer, examples)
            index = {n: i for i, n in enumerate(self.label_names)}
            labels = torch.tensor([index[e.label] if e.label is not None else IGNORE for e in examples])
            self._cache = {k: v for k, v in self._cache.items() if not isinstance(v, TrainSet)}  # keep memory flat
            self._cache[key] = TrainSet(examples, s, t, labels, key)
        return self._cache[key]

    def dev_encoded(self) -> Encoded:
        if "dev" not in self._cache:
            self._cache["dev"] = encode(self.tokenizer, self.dev, self.max_seq_len, self.label_names)
        return self._cache["dev"]

    def teacher_logits(self, data: TrainSet) -> torch.Tensor:
        """Soft labels for every training example, computed once per teacher, training set and
        length and kept on disk (the teacher is frozen): a recipe sweep or a re-run reuses them."""
        return cached_tensor("teacher-logits", [teacher_stamp(self.teacher.path), data.key, str(self.max_seq_len)],
                             lambda: run_batches(self.teacher.model, data.teacher, batch_size=self.eval_batch_size,
                                                 show_progress=False))


def teacher_stamp(path: Path) -> str:
    """Identity of a model folder's weights (path, sizes, mtimes): equal stamps, equal outputs."""
    files = sorted(Path(path).glob("*.safetensors"))
    return f"{Path(path).resolve()}|" + "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


def accuracy(model, enc: Encoded, batch_size: int = 64) -> float:
    return float((run_batches(model, enc, batch_size=batch_size, show_progress=False).argmax(1) == enc.labels)
                 .float().mean())
