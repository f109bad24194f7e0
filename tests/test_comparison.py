"""The one "vs teacher" computation: bigger is better for the student, missing figures stay out."""

import pytest

from edgebert.comparison import Figures, vs_teacher


def test_ratios_are_oriented_so_bigger_is_better_for_the_student():
    v = vs_teacher(Figures(100_000_000, 0.80, 20.0), Figures(5_000_000, 0.79, 2.0))
    assert v["size_ratio"] == pytest.approx(20.0) and v["speedup_p50"] == pytest.approx(10.0)
    assert v["accuracy_ratio"] == pytest.approx(0.79 / 0.80) and v["accuracy_delta_points"] == pytest.approx(-1.0)


def test_a_figure_missing_on_either_side_is_left_out():
    assert vs_teacher(Figures(10, None, None), Figures(None, 0.5, 3.0)) == {}
    assert set(vs_teacher(Figures(10, 0.5, None), Figures(5, 0.5, 1.0))) == {"size_ratio", "accuracy_ratio",
                                                                            "accuracy_delta_points"}
