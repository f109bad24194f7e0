import pytest

from edgebert.data import load_labelled, split
from edgebert.errors import DataError


def test_split_is_seeded_disjoint_and_stratified(sentiment_csv):
    data = load_labelled(sentiment_csv)
    a, b, c = split(data, seed=1), split(data, seed=1), split(data, seed=2)
    assert a.sizes() == {"train": 160, "dev": 20, "test": 20}
    assert a.test == b.test and a.test != c.test
    ids = [id(e) for part in (a.train, a.dev, a.test) for e in part]
    assert len(ids) == len(set(ids)) == 200
    assert sum(e.label == "pos" for e in a.test) == 10


def test_empty_split_is_an_error(sentiment_csv):
    parts = split(load_labelled(sentiment_csv), dev=0.0, test=0.1)
    with pytest.raises(DataError, match="dev split is empty"):
        parts.get("dev")
    with pytest.raises(DataError, match="fractions"):
        split(load_labelled(sentiment_csv), dev=0.6, test=0.5)
