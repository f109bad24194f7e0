import json
import os

import pytest
import torch

from edgebert.errors import CheckpointError
from edgebert.model import load_model, save_checkpoint
from edgebert.model.checkpoint import CONFIG_NAME


def test_round_trip_keeps_weights_shapes_labels_and_tokenizer(hf_bert_dir, tmp_path):
    model = load_model(hf_bert_dir)
    model.config.provenance["kept_layers"] = [0, 1]
    out = save_checkpoint(model, tmp_path / "ckpt", tokenizer_from=hf_bert_dir)
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", CONFIG_NAME, "labels.txt", "tokenizer.json", "tokenizer_config.json"} <= files
    assert (out / "labels.txt").read_text().split() == ["neg", "pos"]
    doc = json.loads((out / CONFIG_NAME).read_text())
    assert doc["format"] == "edgebert" and len(doc["layers"]) == 2
    again = load_model(out)
    ids = torch.randint(5, 60, (2, 9))
    with torch.no_grad():
        assert torch.equal(model(ids), again(ids))
    assert again.config.provenance["kept_layers"] == [0, 1]


def test_pruned_shapes_survive_save_and_load(hf_bert_dir, tmp_path):
    from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification, LayerShape

    cfg = EdgeBertConfig(vocab_size=80, hidden_size=32, layers=[LayerShape(3, 8, 40), LayerShape(1, 8, 12)])
    model = EdgeBertForSequenceClassification(cfg)
    save_checkpoint(model, tmp_path / "pruned", tokenizer_from=hf_bert_dir)
    loaded = load_model(tmp_path / "pruned")
    assert [l.num_heads for l in loaded.config.layers] == [3, 1]
    assert loaded.encoder.layer[1].intermediate.dense.out_features == 12


def test_save_is_atomic_and_keeps_old_checkpoint_on_failure(hf_bert_dir, tmp_path, monkeypatch):
    model = load_model(hf_bert_dir)
    target = save_checkpoint(model, tmp_path / "ckpt", tokenizer_from=hf_bert_dir)
    before = (target / "model.safetensors").read_bytes()

    import edgebert.model.checkpoint as ck

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(model, target, tokenizer_from=hf_bert_dir)
    assert (target / "model.safetensors").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp debris


def test_loading_never_unpickles(tmp_path, hf_bert_dir):
    d = tmp_path / "pickled"
    d.mkdir()
    (d / "config.json").write_text((hf_bert_dir / "config.json").read_text())
    torch.save({"x": torch.zeros(1)}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(d)


@pytest.mark.parametrize("case", ["missing", "file", "not_bert", "no_config", "truncated", "garbage", "bad_json",
                                  "missing_layer"])
def test_bad_checkpoints_give_clear_errors(case, tmp_path, hf_bert_dir):
    import shutil

    d = tmp_path / "m"
    if case != "missing":
        shutil.copytree(hf_bert_dir, d)
    weights = d / "model.safetensors"
    expected = {
        "missing": "does not exist", "file": "is a file", "not_bert": "unsupported encoder family",
        "no_config": "not a model checkpoint", "truncated": "corrupt or truncated", "garbage": "corrupt or truncated",
        "bad_json": "not valid JSON", "missing_layer": "layer 1",
    }[case]
    if case == "file":
        d = weights
    elif case == "not_bert":
        cfg = json.loads((d / "config.json").read_text())
        cfg["model_type"] = "funnel"
        (d / "config.json").write_text(json.dumps(cfg))
    elif case == "no_config":
        os.remove(d / "config.json")
    elif case == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif case == "garbage":
        weights.write_bytes(b"\x00" * 64)
    elif case == "bad_json":
        (d / "config.json").write_text("{not json")
    elif case == "missing_layer":
        from safetensors.torch import load_file, save_file

        state = {k: v for k, v in load_file(str(weights)).items() if ".layer.1." not in k}
        save_file(state, str(weights))
    with pytest.raises(CheckpointError, match=expected) as info:
        load_model(d)
    assert "\n" not in info.value.one_line()
