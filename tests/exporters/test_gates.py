import numpy as np

from edgebert.exporters.base import Thresholds
from edgebert.exporters.gates import accuracy_gate, parity


def test_parity_passes_identical_and_fails_flipped():
    a = np.array([[1.0, -1.0], [0.2, 0.5], [3.0, 1.0]], dtype=np.float32)
    t = Thresholds(1e-4, 0.999, 1.0)
    assert parity(a, a.copy(), t).passed
    flipped = a.copy()
    flipped[1] = flipped[1][::-1]
    res = parity(flipped, a, t)
    assert not res.passed and res.argmax_agreement == 2 / 3 and res.max_abs_diff > 0.29


def test_parity_max_diff_threshold_is_enforced():
    a = np.ones((4, 2), dtype=np.float32)
    assert not parity(a + 1e-3, a, Thresholds(1e-4, 0.9, 0.9)).passed
    assert parity(a + 1e-3, a, Thresholds(None, 0.9, 0.9)).passed


def test_accuracy_budget_in_points():
    labels = np.array([0, 1, 0, 1] * 25)
    good = np.eye(2)[labels]
    worse = good.copy()
    worse[:2] = worse[:2][:, ::-1]  # two of 100 wrong: 2 points
    res = accuracy_gate("test", worse, good, labels, budget_points=1.0)
    assert not res.passed and res.drop_points == 2.0
    assert accuracy_gate("test", worse, good, labels, budget_points=2.5).passed


def test_one_boundary_flip_does_not_fail_int8_parity():
    """Two-class logits near the boundary: one example's cosine is -1, the model is still faithful."""
    from edgebert.exporters.base import DEFAULT_THRESHOLDS

    ref = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32) * 3
    got = ref + 0.01
    ref[0], got[0] = [-0.01, 0.01], [0.01, -0.01]
    res = parity(got, ref, DEFAULT_THRESHOLDS["int8"])
    assert res.min_cosine < -0.99 and res.mean_cosine > 0.97 and res.passed
    assert not parity(got, ref, DEFAULT_THRESHOLDS["fp32"]).passed  # fp32 still demands 1e-4


def test_two_class_cosine_is_reported_not_gated_but_probabilities_are():
    """Mirrored two-class logits: cosine = 2*agreement-1 and gates nothing new; a probability shift does."""
    from edgebert.exporters.base import DEFAULT_THRESHOLDS

    rng = np.random.default_rng(0)
    z = rng.normal(size=200).astype(np.float32) * 2
    ref = np.stack([z, -z], 1)
    got = ref.copy()
    flip = np.argsort(np.abs(z))[:16]  # 8% of examples, the ones nearest the boundary
    got[flip] = -got[flip]
    res = parity(got, ref, DEFAULT_THRESHOLDS["int8"])
    assert abs(res.mean_cosine - (2 * res.argmax_agreement - 1)) < 1e-5
    assert not res.cosine_gated and res.mean_cosine < 0.9 and res.passed
    shifted = ref + np.array([0.0, 0.8], dtype=np.float32)  # same labels mostly, probabilities moved
    res = parity(shifted, ref, DEFAULT_THRESHOLDS["int8"])
    assert res.mean_prob_diff > 0.05 and not res.passed


def test_cosine_gates_with_three_classes():
    from edgebert.exporters.base import Thresholds

    ref = np.array([[3.0, 0.0, -3.0]] * 10, dtype=np.float32)
    got = ref.copy()
    got[:, 2] = 2.0  # argmax unchanged, direction changed
    res = parity(got, ref, Thresholds(None, 0.95, 0.9))
    assert res.cosine_gated and res.argmax_agreement == 1.0 and not res.passed
