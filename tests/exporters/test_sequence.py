"""The sequence-length contract: which length each example is fed at, and trimming that keeps every real token."""

import numpy as np
import pytest

from edgebert.errors import EdgebertError
from edgebert.exporters.sequence import SeqKind, SequenceShape, fit


def test_length_for_each_kind():
    assert [SequenceShape.dynamic(64).length_for(n) for n in (1, 2, 17, 64, 90)] == [2, 2, 17, 64, 64]
    assert [SequenceShape.static(64).length_for(n) for n in (2, 17, 64)] == [64, 64, 64]
    enum = SequenceShape.enumerated([32, 16, 128, 1], 64)  # 128 and 1 are outside 2..64; 64 is always there
    assert enum.lengths == (16, 32, 64)
    assert [enum.length_for(n) for n in (3, 16, 17, 33, 64)] == [16, 16, 32, 64, 64]


def test_round_trip_and_old_bundles():
    for shape in (SequenceShape.dynamic(48), SequenceShape.static(48), SequenceShape.enumerated([16, 32], 48)):
        assert SequenceShape.from_dict(shape.to_dict(), 48) == shape
    assert SequenceShape.from_dict(None, 40) == SequenceShape(SeqKind.STATIC, 40, 40)  # made before the contract
    with pytest.raises(EdgebertError, match="malformed 'sequence'"):
        SequenceShape.from_dict({"kind": "sometimes"}, 40)


def _row(tokens: int, width: int, left: bool):
    ids = np.arange(100, 100 + tokens)
    pad = np.zeros(width - tokens, dtype=np.int64)
    mask = np.ones(tokens, dtype=np.int64)
    join = (lambda real, p: np.concatenate([p, real])) if left else (lambda real, p: np.concatenate([real, p]))
    return join(ids, pad)[None], join(mask, pad)[None], join(ids % 2, pad)[None]


@pytest.mark.parametrize("left", [False, True])
def test_fit_keeps_every_real_token(left):
    ids, mask, types = _row(5, 12, left)
    got = fit((ids, mask, types), SequenceShape.dynamic(12))
    assert got[0].tolist() == [list(range(100, 105))] and got[1].sum() == 5 and got[2].tolist() == [[0, 1, 0, 1, 0]]
    got = fit((ids, mask, types), SequenceShape.enumerated([8], 12))
    assert got[0].shape == (1, 8) and got[1].sum() == 5 and set(range(100, 105)) <= set(got[0].ravel().tolist())
    assert fit((ids, mask, types), SequenceShape.static(12))[0].shape == (1, 12)
