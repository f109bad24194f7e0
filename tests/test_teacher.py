import json

import torch

from edgebert.data import load_labelled, split
from edgebert.model import load_model
from edgebert.teacher import TeacherConfig, train_head


def test_head_training_writes_a_teacher_that_learned_the_task(hf_encoder_dir, sentiment_csv, tmp_path):
    data = load_labelled(sentiment_csv)
    cfg = TeacherConfig(max_seq_len=16, finetune_top_layers=1, finetune_epochs=1, finetune_lr=1e-3)
    info = train_head(hf_encoder_dir, data, tmp_path / "teacher", cfg)
    model = load_model(tmp_path / "teacher", require_head=True)
    prov = model.config.provenance
    assert prov["trained_head"] and prov["head_training"]["max_seq_len"] == 16
    assert model.config.label_names == ["neg", "pos"] and model.config.pooling == "mean"
    assert (tmp_path / "teacher" / "tokenizer.json").exists()
    # the words decide the label, so even a random tiny encoder + trained head beats chance clearly
    assert info["dev_accuracy"] >= 0.7
    doc = json.loads((tmp_path / "teacher" / "edgebert.json").read_text())
    assert doc["provenance"]["head_training"]["dev_accuracy"] == round(info["dev_accuracy"], 4)


def test_folded_standardisation_matches_features(hf_encoder_dir, sentiment_csv, tmp_path):
    """The head is fitted on standardised features, then folded into the linear layer."""
    data = load_labelled(sentiment_csv)
    parts = split(data)
    train_head(hf_encoder_dir, data, tmp_path / "t", TeacherConfig(max_seq_len=16, finetune_epochs=0), parts)
    model = load_model(tmp_path / "t")
    base = load_model(hf_encoder_dir, label_names=["neg", "pos"], pooling="mean")
    # encoder untouched when finetune_epochs=0: only the classifier differs
    for (k, a), (_, b) in zip(model.state_dict().items(), base.state_dict().items()):
        if not k.startswith("classifier."):
            assert torch.equal(a, b), k
