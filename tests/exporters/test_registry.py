import pytest

from edgebert.exporters import ExportError, Exporter, get_exporter, target_names


def test_every_target_is_registered_with_its_interface():
    assert target_names()[:4] == ["executorch", "tflite", "coreml", "onnx"]
    for name in target_names():
        ex = get_exporter(name)
        assert isinstance(ex, Exporter) and ex.target == name and ex.suffix.startswith(".")
        assert ex.quantize_modes[0] == "none" and "int8" in ex.quantize_modes


def test_unknown_target():
    with pytest.raises(ExportError, match="unknown target 'tensorrt'"):
        get_exporter("tensorrt")
