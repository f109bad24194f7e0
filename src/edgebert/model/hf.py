"""Read Hugging Face checkpoint folders without transformers' model classes.

Only safetensors are read (never pickles). Each supported family (``model/families``:
BERT and its layout twins, DistilBERT, RoBERTa/XLM-R, ELECTRA, ALBERT, MPNet, MobileBERT) renames its
weights onto edgebert's one encoder and says which config options describe it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError
from .config import EdgeBertConfig, LayerShape

TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found", f"{what} is missing from the checkpoint folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})", f"repair or re-save the {what}") from None


def check_model_dir(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"model path {path} does not exist", "pass the folder that holds config.json and model.safetensors")
    if not path.is_dir():
        raise CheckpointError(f"model path {path} is a file, not a folder",
                              "pass the checkpoint folder that holds config.json and model.safetensors")
    return path


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def safetensors_files(path: Path) -> list[Path]:
    """The folder's weight files; a folder with only pickled weights is refused, since unpickling runs code."""
    index = path / "model.safetensors.index.json"
    single = path / "model.safetensors"
    if single.exists():
        return [single]
    if index.exists():
        shards = sorted(set(read_json(index, "safetensors index").get("weight_map", {}).values()))
        return [path / s for s in shards]
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{path} only has pickled weights ({', '.join(pickles)}); edgebert never unpickles",
            "convert them once with transformers: model.save_pretrained(dir, safe_serialization=True)",
        )
    raise CheckpointError(f"no model.safetensors in {path}", "pass a checkpoint folder saved with safetensors")


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Load one file or an index of shards; damaged files give a one-line error."""
    files = safetensors_files(path)
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as fh:
                for key in fh.keys():
                    tensors[key] = fh.get_tensor(key)
        except FileNotFoundError:
            raise CheckpointError(f"shard {f} listed in the index is missing", "copy the full checkpoint folder") from None
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{f} is corrupt or truncated ({reason})",
                                  "re-download or re-save the checkpoint") from None
    return tensors


def config_from_hf(hf: dict[str, Any], state: dict[str, torch.Tensor], family) -> EdgeBertConfig:
    """The EdgeBertConfig of a checkpoint whose weights ``family`` has already renamed."""
    hidden = family.require(hf, "hidden_size")
    heads = family.require(hf, "num_attention_heads")
    n_layers = family.require(hf, "num_hidden_layers")
    family.require(hf, "intermediate_size")  # required even though layer widths come from the weights
    vocab = family.require(hf, "vocab_size")
    if family.get(hf, "position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"unsupported position_embedding_type '{hf['position_embedding_type']}'",
                              "edgebert supports absolute position embeddings only")
    options = family.options(hf, state)
    # Per-layer shapes come from the weights, so checkpoints that were pruned elsewhere load too.
    # Heads split the layer's inner width: hidden_size, or MobileBERT's bottleneck.
    head_dim = (options.get("bottleneck_size") or hidden) // heads
    layers = []
    for i in range(family.depth_in_weights(hf)):
        q = state.get(f"encoder.layer.{i}.attention.self.query.weight")
        ff = state.get(f"encoder.layer.{i}.intermediate.dense.weight")
        if q is None or ff is None:
            raise CheckpointError(f"weights for encoder layer {i} are missing",
                                  f"the checkpoint is incomplete or not a {family.name} layout")
        layers.append(LayerShape(num_heads=q.shape[0] // head_dim, head_dim=head_dim, intermediate_size=ff.shape[0]))
    if options.get("shared_layers"):
        layers = layers * n_layers

    label_names: list[str] = []
    id2label = hf.get("id2label") or {}
    has_head = "classifier.weight" in state
    num_labels = state["classifier.weight"].shape[0] if has_head else int(hf.get("num_labels", len(id2label) or 2))
    if id2label and len(id2label) == num_labels:
        label_names = [str(id2label[k]) for k in sorted(id2label, key=lambda k: int(k))]
    common = dict(
        vocab_size=vocab, hidden_size=hidden, layers=layers, num_labels=num_labels, label_names=label_names,
        max_position_embeddings=int(family.get(hf, "max_position_embeddings", 512)),
        type_vocab_size=int(family.get(hf, "type_vocab_size", 2)),
        layer_norm_eps=float(family.get(hf, "layer_norm_eps", 1e-12)),
        hidden_act=str(family.get(hf, "hidden_act", "gelu")), pad_token_id=int(hf.get("pad_token_id") or 0),
        pooling="cls", hidden_dropout_prob=float(family.get(hf, "hidden_dropout_prob", 0.1)),
        attention_dropout_prob=float(family.get(hf, "attention_probs_dropout_prob", 0.1)), family=family.name,
    )
    return EdgeBertConfig(**{**common, **options})


def hf_model_type(path: Path) -> str | None:
    cfg = Path(path) / "config.json"
    if not cfg.exists():
        return None
    try:
        return json.loads(cfg.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def is_hf_dir(path: Path) -> bool:
    """A Hugging Face checkpoint of a family edgebert's encoder reads."""
    from .families import supported_model_types

    return hf_model_type(path) in supported_model_types()


def load_hf_model(
    path: str | Path,
    *,
    num_labels: int | None = None,
    label_names: list[str] | None = None,
    pooling: str | None = None,
    require_head: bool = False,
):
    """Build an edgebert model from a Hugging Face folder of any supported family.

    A folder without a classifier (a plain ``*Model`` encoder) gets a freshly initialised
    linear head of ``num_labels`` outputs; ``require_head`` turns that case into an error.
    """
    from .families import family_for
    from .modeling import EdgeBertForSequenceClassification

    path = check_model_dir(path)
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path} has no config.json: not a Hugging Face or edgebert checkpoint",
                              "pass a folder saved with save_pretrained() or by edgebert")
    hf_cfg = read_json(path / "config.json", "config.json")
    family = family_for(hf_cfg.get("model_type"), hf_cfg.get("architectures"))
    state = {}
    for key, value in load_safetensors(path).items():
        name = family.rename(key)
        if name is not None:
            state[name] = value
    has_head = "classifier.weight" in state
    if require_head and not has_head:
        raise CheckpointError(f"{path} has no classification head (it is a plain encoder)",
                              "fine-tune a head first: edgebert teacher --base DIR --data FILE --out DIR")
    cfg = config_from_hf(hf_cfg, state, family)
    if not has_head:
        cfg.num_labels = num_labels or len(label_names or []) or cfg.num_labels
        cfg.label_names = list(label_names) if label_names else [f"LABEL_{i}" for i in range(cfg.num_labels)]
    elif label_names:
        if len(label_names) != cfg.num_labels:
            raise CheckpointError(f"checkpoint head has {cfg.num_labels} outputs but {len(label_names)} labels were given",
                                  "pass one label name per output")
        cfg.label_names = list(label_names)
    if pooling:
        cfg.pooling = pooling
    has_pooler = "pooler.dense.weight" in state
    if cfg.uses_pooler and not has_pooler and has_head:
        raise CheckpointError(f"{path} has a classifier but no pooler weights", "load it with pooling='mean'")
    cfg.provenance = {
        "source": str(path.resolve()),
        "source_architecture": (hf_cfg.get("architectures") or [f"{family.name} encoder"])[0],
        "kept_layers": list(range(cfg.num_layers)),
        "kept_heads": [list(range(l.num_heads)) for l in cfg.layers],
        "trained_head": has_head,
    }
    model = EdgeBertForSequenceClassification(cfg)
    wanted = model.state_dict()
    loadable = {k: v for k, v in state.items() if k in wanted}
    for k, v in loadable.items():
        if wanted[k].shape != v.shape:
            raise CheckpointError(f"weight {k} has shape {tuple(v.shape)}, expected {tuple(wanted[k].shape)}",
                                  "config.json does not match the weights")
    missing = [k for k in wanted if k not in loadable and not k.startswith(("classifier.", "pooler.", "pre_classifier."))]
    if missing:
        raise CheckpointError(f"checkpoint lacks {len(missing)} encoder weights (first: {missing[0]})",
                              f"the folder is not a complete {family.name} checkpoint")
    model.load_state_dict(loadable, strict=False)
    return model.eval()
