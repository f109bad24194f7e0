"""edgebert's encoder model: config, module, checkpoint I/O and Hugging Face import (every family)."""

from .checkpoint import is_edgebert_dir, load_checkpoint, load_model, model_size_bytes, save_checkpoint, weights_sha256
from .config import EdgeBertConfig, LayerShape
from .hf import load_hf_model
from .modeling import EdgeBertForSequenceClassification, EncoderOutput

__all__ = [
    "EdgeBertConfig", "LayerShape", "EdgeBertForSequenceClassification", "EncoderOutput",
    "load_model", "load_checkpoint", "save_checkpoint", "load_hf_model", "is_edgebert_dir", "model_size_bytes", "weights_sha256",
]
