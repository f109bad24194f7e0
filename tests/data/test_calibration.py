import pytest

from edgebert.data import load_labelled, sample_calibration
from edgebert.errors import DataError


def test_sampler_is_seeded_sized_and_stratified(sentiment_csv):
    ex = load_labelled(sentiment_csv).examples
    a, b, c = sample_calibration(ex, 32, seed=3), sample_calibration(ex, 32, seed=3), sample_calibration(ex, 32, seed=4)
    assert len(a) == 32 and a.examples == b.examples and a.sha256 == b.sha256
    assert a.sha256 != c.sha256
    assert sum(e.label == "pos" for e in a.examples) == 16
    assert len(sample_calibration(ex, 10_000)) == len(ex)


def test_empty_or_zero_calibration_is_an_error(sentiment_csv):
    with pytest.raises(DataError, match="calibration set is empty"):
        sample_calibration([], 8)
    with pytest.raises(DataError, match="must be positive"):
        sample_calibration(load_labelled(sentiment_csv).examples, 0)
