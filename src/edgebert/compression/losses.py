"""TinyBERT distillation losses and the student-to-teacher layer/head maps they use.

Every loss here is exactly zero when the student reproduces the teacher, so a test can
tell a broken loss from a working one. Padding positions never contribute: hidden-state
losses average over real tokens, attention losses zero both padded query rows and padded
key columns (TinyBERT zeroes masked scores; edgebert scores are taken before the mask).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import EdgebertError

LAYER_MAPS = ("auto", "uniform", "last")


def hidden_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
               proj: torch.nn.Module | None = None) -> torch.Tensor:
    """MSE over real tokens of [B, T, H] states; ``proj`` lifts a narrower student to the teacher width."""
    if proj is not None:
        student = proj(student)
    if student.shape[-1] != teacher.shape[-1]:
        raise ValueError(f"hidden widths differ ({student.shape[-1]} vs {teacher.shape[-1]}) and no projection given")
    m = mask.to(student.dtype).unsqueeze(-1)
    denom = (m.sum() * student.shape[-1]).clamp(min=1.0)
    return ((student - teacher) ** 2 * m).sum() / denom


def match_heads(student: torch.Tensor, teacher: torch.Tensor,
                head_index: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring [B, heads, T, T] scores to the same head count.

    ``head_index`` picks teacher heads by provenance (a pruned student keeps the
    teacher's head ids); otherwise equal counts pass through, a divisible teacher count
    is averaged into groups, and anything else compares the head-averaged maps.
    """
    hs, ht = student.shape[1], teacher.shape[1]
    if head_index is not None:
        if len(head_index) != hs or max(head_index) >= ht:
            raise ValueError(f"head map {head_index} does not fit {hs} student / {ht} teacher heads")
        return student, teacher[:, head_index]
    if hs == ht:
        return student, teacher
    if ht % hs == 0:
        b, _, t, _ = teacher.shape
        return student, teacher.reshape(b, hs, ht // hs, t, t).mean(2)
    return student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)


def attention_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                  head_index: list[int] | None = None) -> torch.Tensor:
    """TinyBERT attention loss on PRE-softmax scores, per head, padded rows and columns zeroed."""
    student, teacher = match_heads(student, teacher, head_index)
    m = mask.to(student.dtype)
    valid = m[:, None, :, None] * m[:, None, None, :]  # [B, 1, T, T]
    denom = (valid.sum() * student.shape[1]).clamp(min=1.0)
    return ((student - teacher) ** 2 * valid).sum() / denom


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       temperature: float = 1.0) -> torch.Tensor:
    """TinyBERT's soft cross-entropy minus the teacher's entropy (i.e. KL), times T^2.

    Subtracting the constant entropy changes no gradient but makes the loss zero when the
    student matches the teacher, so a logged value of 0 means "nothing left to learn".
    """
    t = temperature
    p = F.softmax(teacher_logits.float() / t, dim=-1)
    log_q = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return (p * (log_p - log_q)).sum(-1).mean() * (t * t)


def hard_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gold-label CE; label -100 marks augmented text, which has no gold label by design."""
    valid = labels >= 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[valid].float(), labels[valid])


def resolve_layer_map(spec: str | list[int], num_student: int, num_teacher: int,
                      provenance_layers: list[int] | None = None) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs, 0-based.

    ``uniform``: student layer i learns from teacher layer (i+1)*k - 1 with k = teacher/student
    depth (TinyBERT's g(m) = m*k with 1-based layers); ``last``: only the top layers;
    a list: the teacher layer for every student layer; ``auto``: the layers the student was
    copied from when it was initialised from the teacher, else uniform.
    """
    if isinstance(spec, list):
        if len(spec) != num_student:
            raise EdgebertError(f"layer_map lists {len(spec)} teacher layers but the student has {num_student}",
                                "give one teacher layer (0-based) per student layer")
        bad = [j for j in spec if not 0 <= j < num_teacher]
        if bad:
            raise EdgebertError(f"layer_map names teacher layer {bad[0]} but the teacher has {num_teacher} (0-based)",
                                f"use layers 0..{num_teacher - 1}")
        return list(enumerate(spec))
    if spec == "auto":
        if provenance_layers is not None and len(provenance_layers) == num_student \
                and all(0 <= j < num_teacher for j in provenance_layers):
            return list(enumerate(provenance_layers))
        spec = "uniform"
    if spec == "last":
        return [(num_student - 1, num_teacher - 1)]
    if spec == "uniform":
        return [(i, max(0, int((i + 1) * num_teacher / num_student) - 1)) for i in range(num_student)]
    raise EdgebertError(f"unknown layer_map '{spec}'", f"use one of {', '.join(LAYER_MAPS)} or a list of layers")
