"""Every "vs teacher" figure edgebert reports, computed in one place.

A compressed artifact means little alone: the bench and the run report show it beside the
fp32 teacher of the same target, measured by the same runner in the same session. Ratios are
oriented so that bigger is better for the student: size ratio = teacher bytes / bytes,
speedup = teacher p50 / p50.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    size_bytes: int | None = None
    accuracy: float | None = None  # 0..1
    p50_ms: float | None = None


def vs_teacher(teacher: Figures, candidate: Figures) -> dict[str, float]:
    """size_ratio, speedup_p50, accuracy_ratio and accuracy_delta_points, where both sides have the figure."""
    out: dict[str, float] = {}
    if teacher.size_bytes and candidate.size_bytes:
        out["size_ratio"] = teacher.size_bytes / candidate.size_bytes
    if teacher.p50_ms and candidate.p50_ms:
        out["speedup_p50"] = teacher.p50_ms / candidate.p50_ms
    if teacher.accuracy is not None and candidate.accuracy is not None:
        if teacher.accuracy:
            out["accuracy_ratio"] = candidate.accuracy / teacher.accuracy
        out["accuracy_delta_points"] = 100 * (candidate.accuracy - teacher.accuracy)
    return out
