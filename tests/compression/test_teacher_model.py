"""Models loaded through transformers (non-BERT teachers, the augmentation MLM) come from safetensors only."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgebert.compression.teacher_model import load_teacher
from edgebert.errors import CheckpointError

import builders as root


@pytest.fixture(scope="module")
def distil_dir(tmp_path_factory) -> Path:
    """A tiny random DeBERTa-v2 classifier: a family edgebert does not read, so it goes through transformers."""
    return root.make_hf_deberta(tmp_path_factory.mktemp("deberta") / "safe")


@pytest.fixture(scope="module")
def bin_only_dir(distil_dir, tmp_path_factory) -> Path:
    """The same model with only pytorch_model.bin. transformers 5 writes safetensors even with
    safe_serialization=False, so the pickle is written the way older transformers did: torch.save."""
    from safetensors.torch import load_file

    path = tmp_path_factory.mktemp("distil") / "bin"
    shutil.copytree(distil_dir, path)
    (path / "model.safetensors").unlink()
    torch.save(load_file(str(distil_dir / "model.safetensors")), path / "pytorch_model.bin")
    return path


def test_safetensors_teacher_loads(distil_dir):
    teacher = load_teacher(distil_dir)
    assert teacher.kind == "transformers" and teacher.label_names == ["neg", "pos"]
    assert teacher.num_layers == 2 and teacher.hidden_size == 32 and not teacher.has_scores
    logits = teacher.model(torch.tensor([[2, 7, 30, 3]]), torch.ones(1, 4, dtype=torch.long))
    assert logits.shape == (1, 2)


def test_pickle_only_teacher_is_refused_without_unpickling(bin_only_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the teacher was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError) as err:
        load_teacher(bin_only_dir)
    line = err.value.one_line()
    assert "\n" not in line
    assert "only has pickled weights (pytorch_model.bin); edgebert never unpickles" in line
    assert "save_pretrained(dir, safe_serialization=True)" in line


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_truncated_safetensors_is_one_line(distil_dir, tmp_path, keep):
    path = tmp_path / "t"
    shutil.copytree(distil_dir, path)
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError) as err:
        load_teacher(path)
    line = err.value.one_line()
    assert "\n" not in line and "corrupt or truncated" in line and str(path) in line


def test_cli_refuses_pickle_only_teacher(bin_only_dir, tmp_path):
    csv = root.write_sentiment_csv(tmp_path / "data.csv", 40)
    exe = Path(sys.executable).parent / "edgebert"
    proc = subprocess.run([str(exe), "compress", "--teacher", str(bin_only_dir), "--data", str(csv),
                           "--out", str(tmp_path / "out"), "--max-steps", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "never unpickles" in errors[0], proc.stderr[-2000:]


def test_augmentation_mlm_never_unpickles(tmp_path, monkeypatch):
    """has_mlm_head only looks at *.safetensors, so weights not named model.safetensors next to a
    pytorch_model.bin used to send transformers to the pickle."""
    from transformers import BertConfig, BertForMaskedLM

    from edgebert.compression import augment as aug
    from edgebert.data import load_tokenizer

    folder = tmp_path / "mlm"
    cfg = BertConfig(vocab_size=len(root.tiny_vocab()), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(str(folder))
    root.write_tokenizer(folder)
    (folder / "model.safetensors").rename(folder / "mlm.safetensors")
    from safetensors.torch import load_file

    torch.save(load_file(str(folder / "mlm.safetensors")), folder / "pytorch_model.bin")
    assert aug.resolve_method("auto", folder)[0] == "glove+mlm"

    def refuse(*args, **kwargs):
        raise AssertionError("the masked LM was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError, match="only has pickled weights .pytorch_model.bin.; edgebert never unpickles"):
        aug.MaskedLM(folder, load_tokenizer(folder))
