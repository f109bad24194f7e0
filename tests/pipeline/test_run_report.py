from edgebert.pipeline.run_report import pareto_front


def test_pareto_front_keeps_only_undominated_points():
    pts = [("teacher", 15.0, 0.80), ("a", 3.0, 0.78), ("b", 4.0, 0.77), ("c", 5.0, 0.79), ("d", 3.0, 0.70)]
    assert pareto_front(pts) == ["teacher", "a", "c"]


def test_pareto_front_ties_keep_both_and_single_point_is_front():
    assert pareto_front([("x", 1.0, 0.5), ("y", 1.0, 0.5)]) == ["x", "y"]
    assert pareto_front([("only", 2.0, 0.1)]) == ["only"]
