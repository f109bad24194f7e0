"""Run recipes parse strictly: a typo fails in one line before any slow work."""

from __future__ import annotations

import pytest
import yaml

from edgebert.errors import EdgebertError
from edgebert.pipeline.spec import load_run_spec, parse_run_spec, shipped_runs

INLINE = {"name": "x", "compress": {"recipe": {"stages": [{"type": "distill", "phase": "prediction"}]}}}


def test_shipped_run_recipes_parse():
    assert {"default", "headline"} <= set(shipped_runs())
    for name in shipped_runs():
        spec = load_run_spec(name)
        assert spec.export.targets and spec.bench.devices
        assert spec.compression_recipe().stages[-1].type == "trim_vocab"


def test_default_student_precisions():
    spec = load_run_spec("default")
    assert spec.export.precision_for("onnx") == "int8-dynamic"
    assert spec.export.precision_for("executorch") == "int8"


@pytest.mark.parametrize("doc, needle", [
    ({**INLINE, "exprot": {}}, "unknown key 'exprot' (did you mean 'export'?)"),
    ({**INLINE, "export": {"targets": ["tensorrt"]}}, "unknown target 'tensorrt'"),
    ({**INLINE, "export": {"targets": ["executorch"], "student_precision": {"executorch": "int8-dynamic"}}},
     "target executorch has no 'int8-dynamic' precision"),
    ({**INLINE, "bench": {"runs": 0}}, "runs must be >= 1"),
    ({**INLINE, "compress": {"recipe": {"stages": [{"type": "distil"}]}}}, "unknown type 'distil'"),
    ({**INLINE, "compress": {"max_train_examples": -3}}, "'max_train_examples' must be positive"),
    ({"stages": [{"type": "distill"}]}, "is a compression recipe, not a run recipe"),
])
def test_bad_run_recipes_fail_in_one_line(doc, needle):
    with pytest.raises(EdgebertError) as err:
        parse_run_spec(doc, "r.yaml")
    assert needle in err.value.one_line()
    assert "\n" not in err.value.one_line()


def test_compression_recipe_path_is_relative_to_the_run_recipe(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"name": "mine", "stages": [{"type": "finetune"}]}))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"compress": {"recipe": "c.yaml"}}))
    assert load_run_spec(tmp_path / "run.yaml").compression_recipe().name == "mine"


def test_unknown_run_recipe_names_the_shipped_ones():
    with pytest.raises(EdgebertError) as err:
        load_run_spec("no-such-run")
    assert "default" in err.value.one_line() and "headline" in err.value.one_line()


def test_a_run_recipe_without_a_compression_recipe_uses_a_shipped_one(tmp_path):
    """The default compress.recipe must name a recipe that exists (it once named none)."""
    from edgebert.compression.recipe import shipped_recipes

    spec = parse_run_spec({"name": "bare"}, "bare.yaml")
    assert spec.compress.recipe in shipped_recipes()
    assert spec.compression_recipe().stages
