"""Do two tokenizers put the same token at the same position? Then intermediate losses apply.

TinyBERT's hidden-state and attention losses compare teacher and student position by
position, so they need one tokenization. A student from another checkpoint (all-MiniLM
under an all-mpnet teacher) brings its own vocabulary, but when both derive from BERT's
uncased WordPiece they often split every word identically and differ only in their
special tokens' spelling and ids (``[CLS]`` vs ``<s>``). This checks exactly that on the
data itself: every position of every example maps to the same token (specials by role).
"""

from __future__ import annotations

import torch

from ..data import Encoded

ROLES = ("cls_token", "sep_token", "pad_token", "mask_token")  # the ones templates and padding insert


def _model_unk_id(tok) -> int | None:
    """The id the tokenization model gives an unknown word (all-mpnet-base-v2's says [UNK], not its <unk> role)."""
    unk = getattr(getattr(getattr(tok, "backend_tokenizer", None), "model", None), "unk_token", None)
    return tok.get_vocab().get(unk) if unk else getattr(tok, "unk_token_id", None)


def id_map(student_tok, teacher_tok) -> torch.Tensor:
    """Student id -> teacher id of the same token string (special tokens by their role), -1 where none."""
    s_vocab, t_vocab = student_tok.get_vocab(), teacher_tok.get_vocab()
    table = torch.full((max(s_vocab.values()) + 1,), -1, dtype=torch.long)
    for token, i in s_vocab.items():
        j = t_vocab.get(token)
        if j is not None:
            table[i] = j
    pairs = [(getattr(student_tok, f"{r}_id", None), getattr(teacher_tok, f"{r}_id", None)) for r in ROLES]
    for a, b in pairs + [(_model_unk_id(student_tok), _model_unk_id(teacher_tok))]:
        if a is not None and b is not None:
            table[a] = b
    return table


def positions_align(student: Encoded, teacher: Encoded, student_tok, teacher_tok) -> bool:
    """True when every example's tokens line up one to one between the two encodings."""
    if student.input_ids.shape != teacher.input_ids.shape:
        return False
    if not torch.equal(student.attention_mask, teacher.attention_mask):
        return False
    mapped = id_map(student_tok, teacher_tok)[student.input_ids]
    real = student.attention_mask.bool()
    return bool(((mapped == teacher.input_ids) | ~real).all())
