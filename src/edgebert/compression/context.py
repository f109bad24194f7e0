"""What every stage shares: the teacher, tokenizers, the data splits and encoded training sets.

Student and teacher share a tokenizer in the usual case (students copied from the
teacher or random with its vocabulary); a student from another checkpoint may bring its
own, and then each side gets its own encoding of the same examples. Intermediate losses
then need the two encodings to line up position by position (token_alignment), else only
logit losses are possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import Encoded, encode
from ..data.examples import Example, examples_hash
from .. import teacher_outputs
from ..inference import run_batches
from .teacher_model import Teacher
from .token_alignment import positions_align

IGNORE = -100  # label of augmented / unlabelled text: never trained against gold labels


@dataclass
class TrainSet:
    examples: list[Example]
    student: Encoded
    teacher: Encoded  # the same object when the tokenizers agree
    labels: torch.Tensor  # gold label id, or IGNORE
    key: str
    aligned: bool = True  # teacher and student tokens line up position by position

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
            aligned = self.shared_tokens or positions_align(s, t, self.tokenizer, self.teacher_tokenizer)
            index = {n: i for i, n in enumerate(self.label_names)}
            labels = torch.tensor([index[e.label] if e.label is not None else IGNORE for e in examples])
            self._cache = {k: v for k, v in self._cache.items() if not isinstance(v, TrainSet)}  # keep memory flat
            self._cache[key] = TrainSet(examples, s, t, labels, key, aligned)
        return self._cache[key]

    def dev_encoded(self) -> Encoded:
        if "dev" not in self._cache:
            self._cache["dev"] = encode(self.tokenizer, self.dev, self.max_seq_len, self.label_names)
        return self._cache["dev"]

    def teacher_logits(self, data: TrainSet) -> torch.Tensor:
        """Soft labels for every training example: the teacher is frozen, so each example's logits
        are computed once and kept on disk (edgebert.teacher_outputs); later runs, other recipes and
        other subsets of the same data reuse them."""
        return self.teacher_logits_for(data.examples)

    def teacher_logits_for(self, examples: list[Example]) -> torch.Tensor:
        def compute(missing: list[Example]) -> torch.Tensor:
            enc = self._encode(self.teacher_tokenizer, missing)
            return run_batches(self.teacher.model, enc, batch_size=self.eval_batch_size,
                               description=f"teacher logits ({len(missing)} examples)")

        return teacher_outputs.logits_for(self.teacher.path, self.max_seq_len, examples, compute)


def accuracy(model, enc: Encoded, batch_size: int = 64) -> float:
    return float((run_batches(model, enc, batch_size=batch_size, show_progress=False).argmax(1) == enc.labels)
                 .float().mean())
