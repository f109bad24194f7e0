"""Typed YAML settings: recipes and run recipes are parsed strictly into dataclasses.

A typo in a recipe otherwise costs an hour of training with a default nobody chose, so
unknown keys, wrong types and unreadable files each fail with one line naming the file,
the section and the key (with a did-you-mean).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import EdgebertError


def shipped_yaml(package: str) -> dict[str, str]:
    """Name -> its whole description as one line, for the YAML files in ``package``/recipes."""
    folder = resources.files(package) / "recipes"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            doc = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            out[entry.name[:-5]] = " ".join(str(doc.get("description") or "").split())
    return out


def read_yaml(spec: str | Path, package: str, kind: str) -> tuple[Any, str]:
    """(document, source) from a YAML path or the name of a file shipped in ``package``/recipes."""
    path = Path(spec).expanduser()
    if path.is_file():
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise EdgebertError(f"{kind} {path} is not UTF-8 text (byte {exc.start})", f"save the {kind} as UTF-8") \
                from None
        except OSError as exc:
            raise EdgebertError(f"cannot read {kind} {path}: {exc.strerror}", f"check the {kind} path") from None
    else:
        name = str(spec)[:-5] if str(spec).endswith(".yaml") else str(spec)
        entry = resources.files(package) / "recipes" / f"{name}.yaml"
        if "/" in name or not entry.is_file():
            raise EdgebertError(f"{kind} '{spec}' is neither a file nor a shipped {kind}",
                                f"pass a YAML path or one of: {', '.join(shipped_yaml(package))}")
        text, source = entry.read_text(encoding="utf-8"), f"shipped:{name}"
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise EdgebertError(f"{kind} {source} is not valid YAML{where}", "check indentation and colons") from None


def mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise EdgebertError(f"{where} must be a mapping of key: value, got {type(value).__name__}",
                            "indent its keys under it")
    return dict(value)


def suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build(cls, raw: dict, where: str, skip: set[str] | frozenset = frozenset()):
    """Instantiate dataclass ``cls`` from ``raw``, checking every key and value type."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in skip}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise EdgebertError(f"{where}: unknown key '{key}'{suggest(str(key), fields)}",
                                f"known keys: {', '.join(sorted(fields))}")
        nested = _dataclass_in(hints[key])
        if nested is not None and value is not None:  # e.g. a pruning stage's `recover:` distill settings
            kwargs[key] = build(nested, mapping(value, f"{where} {key}"), f"{where} {key}")
            continue
        kwargs[key] = _check(value, hints[key], where, key)
    return cls(**kwargs)


def _dataclass_in(hint) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), if any."""
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
    return None


def _type_name(hint) -> str:
    names = {int: "an integer", float: "a number", bool: "true/false", str: "a string", dict: "a mapping"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        return f"a list of {_type_name(arg).split(' ', 1)[-1]}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    return getattr(hint, "__name__", str(hint))


def _check(value: Any, hint, where: str, key: str):
    ok, converted = _coerce(value, hint)
    if not ok:
        raise EdgebertError(f"{where}: '{key}' must be {_type_name(hint)}, got {value!r}",
                            f"fix '{key}' in the recipe")
    return converted


def _coerce(value: Any, hint) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return True, None
                continue
            ok, v = _coerce(value, arg)
            if ok:
                return True, v
        return False, None
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            return False, None
        out = []
        for item in value:
            ok, v = _coerce(item, arg)
            if not ok:
                return False, None
            out.append(v)
        return True, out
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, (int, float)):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-5" as a string
            try:
                return True, float(value)
            except ValueError:
                return False, None
        return False, None
    if hint is str:
        return isinstance(value, str), value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return False, None
    if hint is dict or origin is dict:
        return isinstance(value, dict), value
    return isinstance(value, hint), value
