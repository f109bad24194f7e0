"""Read labelled text from CSV/TSV/JSONL files and `datasets` folders saved to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .columns import LABEL_COLUMNS, PAIR_COLUMNS, TEXT_COLUMNS, Columns
from .examples import Example, LabelledData



def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, path: Path, required: bool):
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path} has no {role} column '{wanted}' (columns: {', '.join(columns)})",
                            f"pass the right --{role.replace(' ', '-')}-column")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    if required:
        raise DataError(f"{path} has no {role} column (looked for {', '.join(candidates)}; found {', '.join(columns)})",
                        f"name the column with --{role.replace(' ', '-')}-column")
    return None


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    for ext in (".bz2", ".gz", ".xz", ".zip"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    try:
        if name.endswith(".csv"):
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if name.endswith(".tsv"):
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
        if name.endswith((".jsonl", ".json")):
            return pd.read_json(path, lines=name.endswith(".jsonl"), dtype=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, json.JSONDecodeError, OSError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot parse {path}: {first}", "check the file's format and encoding (UTF-8)") from None
    raise DataError(f"unsupported data file {path.name}",
                    "use .csv, .tsv, .jsonl (optionally compressed) or a datasets folder saved with save_to_disk")


def _frame_to_examples(df: pd.DataFrame, cols: Columns, path: Path, require_labels: bool) -> tuple[list[Example], bool]:
    columns = [str(c) for c in df.columns]
    text_col = _pick(columns, cols.text, TEXT_COLUMNS, "text", path, True)
    pair_col = _pick(columns, cols.text_pair, PAIR_COLUMNS, "text pair", path, False)
    label_col = _pick(columns, cols.label, LABEL_COLUMNS, "label", path, require_labels)
    examples = []
    for row in df.itertuples(index=False):
        r = dict(zip(columns, row))
        text = r[text_col]
        if text is None or (isinstance(text, float) and text != text):
            continue
        label = r[label_col] if label_col else None
        if label is not None and not isinstance(label, str):
            label = str(label)
        if label_col and (label is None or label == ""):
            continue
        pair = r[pair_col] if pair_col else None
        examples.append(Example(str(text), label, None if pair is None else str(pair)))
    return examples, label_col is not None


def _load_datasets_dir(path: Path, cols: Columns, require_labels: bool) -> LabelledData:
    try:
        import datasets
    except ImportError:
        raise DataError("reading a datasets folder needs the 'datasets' package", "pip install datasets") from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(f"{path} is not a datasets folder saved with save_to_disk ({exc})",
                        "pass a .csv/.tsv/.jsonl file or a save_to_disk() folder") from None
    parts = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"all": loaded}
    label_names: list[str] | None = None
    splits: dict[str, list[Example]] = {}
    for split_name, ds in parts.items():
        feat = ds.features.get(cols.label or "label")
        if isinstance(feat, datasets.ClassLabel):
            label_names = list(feat.names)
            ds = ds.cast_column(cols.label or "label", datasets.Value("string"))
            ds = ds.map(lambda r, names=feat.names, c=cols.label or "label": {c: names[int(r[c])]})
        examples, _ = _frame_to_examples(ds.to_pandas(), cols, path / split_name, require_labels)
        splits[{"validation": "dev"}.get(split_name, split_name)] = examples
    everything = [e for part in splits.values() for e in part]
    data = LabelledData(everything, label_names or _label_names(everything), str(path))
    if set(splits) >= {"train"} and len(splits) > 1:
        data.given_splits = splits
    return data


def _label_names(examples: list[Example]) -> list[str]:
    names = sorted({e.label for e in examples if e.label is not None})
    # numeric labels sort numerically ("2" after "10" would reorder classes)
    if names and all(n.lstrip("-").isdigit() for n in names):
        names = sorted(names, key=int)
    return names


def load_labelled(
    path: str | Path,
    columns: Columns | None = None,
    *,
    label_names: list[str] | None = None,
    require_labels: bool = True,
) -> LabelledData:
    """Load labelled text. ``label_names`` fixes the label order (e.g. a model's labels)."""
    cols = columns or Columns()
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data path {path} does not exist", "pass a .csv/.tsv/.jsonl file or a datasets folder")
    if path.is_dir():
        data = _load_datasets_dir(path, cols, require_labels)
    else:
        examples, _ = _frame_to_examples(_read_table(path), cols, path, require_labels)
        data = LabelledData(examples, _label_names(examples), str(path))
    if not data.examples:
        raise DataError(f"{path} holds no usable examples", "check that it has rows with non-empty text and label")
    if label_names is not None:
        unknown = sorted({e.label for e in data.examples if e.label is not None} - set(label_names))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise DataError(f"{path} has label(s) {shown} that the model does not know ({', '.join(label_names)})",
                            "fix the labels in the data or use a model trained on them")
        data.label_names = list(label_names)
    if require_labels and len(data.label_names) < 2:
        raise DataError(f"{path} has only one label ({', '.join(data.label_names)})",
                        "a classifier needs at least two labels")
    return data
