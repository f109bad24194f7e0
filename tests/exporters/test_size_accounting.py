"""Size accounting: an artifact's bytes split into int8 weights, float weights, other constants and overhead."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgebert.exporters import get_exporter
from edgebert.exporters.size_accounting import account, size_accounting, words


def test_account_adds_up_and_judges_the_overhead_goal():
    acc = account(1_150, {"int8": 600, "float32": 380, "int64": 20})
    assert (acc["int8_weight_bytes"], acc["float_weight_bytes"], acc["other_weight_bytes"], acc["overhead_bytes"]) == \
        (600, 380, 20, 150)
    assert acc["artifact_over_weights"] == pytest.approx(1.15) and acc["overhead_goal_met"]
    assert not account(1_200, {"int8": 600, "float32": 400})["overhead_goal_met"]
    assert "0.60 MB int8 weights" in words(account(1_000_000, {"int8": 600_000, "float32": 400_000}))


@pytest.mark.parametrize("quantize", ["none", "int8-dynamic"])
def test_onnx_accounting_counts_what_the_file_holds(quantize, tiny_export_request):
    ex = get_exporter("onnx")
    art = ex.export(tiny_export_request(quantize))
    acc = size_accounting(art.path, ex.inspect(art))
    by_dtype: dict[str, int] = {}
    for init in onnx.load(str(art.path)).graph.initializer:  # independent count, straight from the file
        arr = numpy_helper.to_array(init)
        by_dtype[str(arr.dtype)] = by_dtype.get(str(arr.dtype), 0) + arr.nbytes
    assert acc["artifact_bytes"] == art.path.stat().st_size
    assert acc["int8_weight_bytes"] == by_dtype.get("int8", 0) + by_dtype.get("uint8", 0)
    assert acc["float_weight_bytes"] == by_dtype.get("float32", 0)
    assert (acc["int8_weight_bytes"] > 0) == (quantize != "none")
    total = acc["int8_weight_bytes"] + acc["float_weight_bytes"] + acc["other_weight_bytes"] + acc["overhead_bytes"]
    assert total == acc["artifact_bytes"] and 0 < acc["overhead_bytes"] < acc["artifact_bytes"]
    assert np.isclose(acc["artifact_over_weights"], acc["artifact_bytes"] / (total - acc["overhead_bytes"]), atol=1e-4)
