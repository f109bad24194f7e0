"""Recipes: shipped ones parse; every mistake is one line naming the stage and the key."""

import pytest

from edgebert.compression.recipe import load_recipe, parse_recipe, shipped_recipes
from edgebert.compression.stage_configs import DistillStage, LayerDropStage, PruneHeadsStage
from edgebert.errors import EdgebertError


def _err(doc) -> str:
    with pytest.raises(EdgebertError) as info:
        parse_recipe(doc)
    line = info.value.one_line()
    assert "\n" not in line
    return line


def test_shipped_recipes_parse():
    names = shipped_recipes()
    assert {"tinybert-4l", "triple", "heads-50"} <= set(names)
    for name in names:
        assert load_recipe(name).stages
    triple = load_recipe("triple")
    drop = triple.stages[0]
    assert isinstance(drop, LayerDropStage) and drop.p == 0.2 and drop.keep == [0, 1, 2, 4]
    heads = load_recipe("heads-50").stages[0]
    assert isinstance(heads, PruneHeadsStage) and heads.fraction == 0.5 and isinstance(heads.recover, DistillStage)
    tiny = load_recipe("tinybert-4l")
    assert tiny.student.layers == [0, 2, 3, 5] and [s.phase for s in tiny.stages] == ["intermediate", "prediction"]
    assert tiny.stages[0].lr == 1e-4


def test_unknown_stage_key_names_stage_and_key():
    line = _err({"stages": [{"type": "augment"}, {"type": "distill", "temprature": 2}]})
    assert line.startswith("recipe stage 2 (distill): unknown key 'temprature' (did you mean 'temperature'?)")


def test_other_mistakes():
    assert "recipe: unknown key 'sead'" in _err({"sead": 1, "stages": [{"type": "distill"}]})
    assert "recipe stage 1: unknown type 'distil' (did you mean 'distill'?)" in _err({"stages": [{"type": "distil"}]})
    assert "recipe stage 1: missing 'type'" in _err({"stages": [{"phase": "prediction"}]})
    assert "'stages' must be a non-empty list" in _err({"seed": 1})
    assert "recipe stage 1 (distill): 'lr' must be a number, got 'fast'" in _err({"stages": [{"type": "distill", "lr": "fast"}]})
    assert "'epochs' must be a number" in _err({"stages": [{"type": "distill", "epochs": True}]})
    assert "recipe student: unknown key 'layer'" in _err({"student": {"init": "teacher_layers", "layer": [1]},
                                                          "stages": [{"type": "distill"}]})
    assert "recipe stage 1 (prune_heads) recover: unknown key 'epoch'" in _err(
        {"stages": [{"type": "prune_heads", "fraction": 0.5, "recover": {"epoch": 1}}]})
    assert "exactly one of 'fraction' and 'target_heads'" in _err(
        {"stages": [{"type": "prune_heads", "fraction": 0.5, "target_heads": 4}]})
    assert "'p' must be in (0, 1)" in _err({"stages": [{"type": "augment", "p": 1.5}]})
    assert "either 'keep' or 'select'" in _err({"stages": [{"type": "layerdrop", "keep": [0], "select": "greedy",
                                                            "target_layers": 2}]})
    assert "needs 'target_layers'" in _err({"stages": [{"type": "select_layers", "method": "greedy"}]})
    assert "unknown phase 'middle'" in _err({"stages": [{"type": "distill", "phase": "middle"}]})
    assert "every loss weight is 0" in _err({"stages": [{"type": "distill", "logits": 0}]})
    assert "'layer_map' must be" in _err({"stages": [{"type": "distill", "layer_map": [1.5]}]})
    assert "'batch_size' must be positive" in _err({"batch_size": 0, "stages": [{"type": "distill"}]})


def test_yaml_values_and_files(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("seed: 3\nstages:\n  - type: distill\n    lr: 2e-5\n    layer_map: [0, 2]\n")
    r = load_recipe(path)
    assert r.seed == 3 and r.stages[0].lr == 2e-5 and r.stages[0].layer_map == [0, 2]
    assert r.to_dict()["stages"][0]["type"] == "distill"
    path.write_text("stages: [type: distill\n")
    with pytest.raises(EdgebertError, match="not valid YAML"):
        load_recipe(path)
    with pytest.raises(EdgebertError, match="neither a file nor a shipped recipe"):
        load_recipe("no-such-recipe")


def test_format_example_in_the_docs_parses():
    import yaml

    from edgebert.compression import recipe as module

    block = module.__doc__.split("Format")[1].split("::")[1].split("distill weights")[0]
    doc = yaml.safe_load("\n".join(line[4:] for line in block.splitlines()))
    types = [s.type for s in parse_recipe(doc).stages]
    assert types == ["general_distill", "augment", "distill", "distill", "finetune", "layerdrop", "select_layers",
                     "prune_heads", "prune_ffn"]
