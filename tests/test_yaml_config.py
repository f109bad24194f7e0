"""Strict YAML settings (edgebert.yaml_config).

A recipe typo must fail in one line naming the key, before an hour of training runs with a
default nobody chose; these use their own dataclasses and recipe package, so they do not
depend on what the shipped recipes happen to contain.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

from edgebert.errors import EdgebertError
from edgebert.yaml_config import build, read_yaml, shipped_yaml


@dataclass
class Recover:
    epochs: int = 1
    learning_rate: float = 1e-4


@dataclass
class Stage:
    epochs: int = 3
    learning_rate: float = 5e-5
    temperature: float | None = None
    layers: list[int] = field(default_factory=list)
    augment: bool = False
    name: str = "stage"
    recover: Recover | None = None
    warm: Recover = field(default_factory=Recover)


def _refused(call, *args) -> str:
    with pytest.raises(EdgebertError) as info:
        call(*args)
    err = info.value
    assert "\n" not in err.message and "\n" not in (err.hint or "")
    return err.one_line()


# --- build ------------------------------------------------------------------------------------

def test_build_fills_each_field_and_keeps_defaults():
    s = build(Stage, {"epochs": 2, "layers": [0, 2], "augment": True, "name": "distill"}, "recipe stage 1")
    assert s == Stage(epochs=2, layers=[0, 2], augment=True, name="distill")


def test_unknown_key_suggests_the_close_one():
    msg = _refused(build, Stage, {"learnin_rate": 1e-3}, "recipe stage 2")
    assert msg.startswith("recipe stage 2: unknown key 'learnin_rate' (did you mean 'learning_rate'?)")
    assert "known keys: augment, epochs, layers, learning_rate, name, recover, temperature, warm" in msg
    assert "did you mean" not in _refused(build, Stage, {"zzz": 1}, "recipe stage 2")


@pytest.mark.parametrize("key, value, named", [
    ("epochs", "three", "'epochs' must be an integer, got 'three'"),
    ("epochs", True, "'epochs' must be an integer, got True"),  # YAML `yes` is not a count
    ("epochs", 2.5, "'epochs' must be an integer, got 2.5"),
    ("learning_rate", "fast", "'learning_rate' must be a number, got 'fast'"),
    ("learning_rate", False, "'learning_rate' must be a number, got False"),
    ("temperature", "hot", "'temperature' must be a number, got 'hot'"),
    ("layers", [0, "two"], "'layers' must be a list of integers, got [0, 'two']"),
    ("layers", 3, "'layers' must be a list of integers, got 3"),
    ("augment", "yes please", "'augment' must be true/false, got 'yes please'"),
    ("name", 7, "'name' must be a string, got 7"),
])
def test_a_wrong_type_is_named(key, value, named):
    msg = _refused(build, Stage, {key: value}, "recipe stage 1")
    assert msg.startswith(f"recipe stage 1: {named}")
    assert f"fix '{key}'" in msg


def test_numbers_yaml_reads_as_strings_become_floats():
    """YAML 1.1 reads 5e-5 (no dot) as the string '5e-5'."""
    s = build(Stage, {"learning_rate": "5e-5", "temperature": 2}, "recipe")
    assert s.learning_rate == 5e-5 and isinstance(s.learning_rate, float)
    assert s.temperature == 2.0 and isinstance(s.temperature, float)
    assert build(Stage, {"temperature": None}, "recipe").temperature is None


def test_nested_settings_are_built_from_mappings():
    s = build(Stage, {"recover": {"epochs": 2, "learning_rate": "1e-5"}, "warm": {"epochs": 4}}, "recipe stage 1")
    assert s.recover == Recover(epochs=2, learning_rate=1e-5)
    assert s.warm == Recover(epochs=4)
    assert build(Stage, {"recover": None}, "recipe").recover is None


def test_nested_mistakes_name_the_section():
    msg = _refused(build, Stage, {"recover": {"epoch": 2}}, "recipe stage 1")
    assert msg.startswith("recipe stage 1 recover: unknown key 'epoch' (did you mean 'epochs'?)")
    msg = _refused(build, Stage, {"recover": 3}, "recipe stage 1")
    assert msg.startswith("recipe stage 1 recover must be a mapping of key: value, got int")
    msg = _refused(build, Stage, {"warm": {"epochs": "two"}}, "recipe stage 1")
    assert msg.startswith("recipe stage 1 warm: 'epochs' must be an integer")


# --- read_yaml and shipped_yaml -----------------------------------------------------------------

@pytest.fixture(scope="module")
def recipes_pkg(tmp_path_factory) -> str:
    """An importable package with a recipes/ folder, like edgebert.compression's."""
    root = tmp_path_factory.mktemp("pkgroot")
    name = "edgebert_test_recipes_pkg"
    folder = root / name / "recipes"
    folder.mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (folder / "long.yaml").write_text("name: long\ndescription: |\n  First line,\n  second   line.\n\n  Third.\nseed: 1\n")
    (folder / "bare.yaml").write_text("name: bare\n")
    (folder / "notes.txt").write_text("not a recipe\n")
    sys.path.insert(0, str(root))
    yield name
    sys.path.remove(str(root))
    sys.modules.pop(name, None)


def test_shipped_yaml_gives_each_whole_description_on_one_line(recipes_pkg):
    assert shipped_yaml(recipes_pkg) == {"bare": "", "long": "First line, second line. Third."}


@pytest.mark.parametrize("spec", ["long", "long.yaml"])
def test_a_shipped_name_resolves(recipes_pkg, spec):
    doc, source = read_yaml(spec, recipes_pkg, "recipe")
    assert doc["seed"] == 1 and source == "shipped:long"


def test_the_real_shipped_run_recipes_resolve():
    names = shipped_yaml("edgebert.pipeline")
    assert "default" in names
    for name in names:
        doc, source = read_yaml(name, "edgebert.pipeline", "run recipe")
        assert doc["name"] == name and source == f"shipped:{name}"


@pytest.mark.parametrize("spec", ["lnog", "../recipes/long", "missing.yaml"])
def test_an_unknown_name_lists_the_shipped_ones(recipes_pkg, spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = _refused(read_yaml, spec, recipes_pkg, "recipe")
    assert msg == f"recipe '{spec}' is neither a file nor a shipped recipe (pass a YAML path or one of: bare, long)"


def test_a_file_path_wins(recipes_pkg, tmp_path):
    path = tmp_path / "long"  # same name as a shipped recipe
    path.write_text("seed: 9\n")
    assert read_yaml(path, recipes_pkg, "recipe") == ({"seed": 9}, str(path))


def test_a_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    msg = _refused(read_yaml, path, "edgebert.compression", "recipe")
    assert msg == f"recipe {path} is not UTF-8 text (byte 9) (save the recipe as UTF-8)"


@pytest.mark.parametrize("text, line", [
    ("name: x\nseed: 0\nstages: a: b\n", 3),
    ("name: x\nlayers: [0, 1\nseed: 0\n", 3),  # the stray colon is where the list breaks
    ("name: x\n\tseed: 0\n", 2),
])
def test_invalid_yaml_is_one_line_with_the_line_number(tmp_path, text, line):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    msg = _refused(read_yaml, path, "edgebert.compression", "recipe")
    assert msg.startswith(f"recipe {path} is not valid YAML at line {line} ")
