import json

import torch

from edgebert.data import load_labelled, split
from edgebert.model import load_model
from edgebert import teacher_head as teacher
from edgebert.teacher_head import TeacherConfig, fold_standardisation, train_head


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


def test_fold_equals_the_head_on_standardised_features():
    """The exported model sees raw features, so the fold must reproduce head((x - mean) / std)."""
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(16, 3, dtype=torch.float64)  # float64: the check is on the algebra, not rounding
    with torch.no_grad():
        head.weight.copy_(torch.randn(3, 16, generator=g))
        head.bias.copy_(torch.randn(3, generator=g))
    mean = torch.randn(16, generator=g, dtype=torch.float64) * 3
    std = torch.rand(16, generator=g, dtype=torch.float64) * 2 + 0.05
    raw = torch.randn(64, 16, generator=g, dtype=torch.float64) * std + mean
    weight, bias = fold_standardisation(head, mean, std)
    with torch.no_grad():
        expected = head((raw - mean) / std)
    assert (raw @ weight.T + bias - expected).abs().max().item() <= 1e-5


def _bert_mean_pooled(model_dir, examples, seq_len):
    """Mean-pooled last hidden states of the base encoder, by transformers (not edgebert)."""
    from transformers import AutoTokenizer, BertModel

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    bert = BertModel.from_pretrained(str(model_dir)).eval()
    enc = tok([e.text for e in examples], padding="max_length", truncation=True, max_length=seq_len,
              return_tensors="pt")
    with torch.no_grad():
        hidden = bert(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1), enc


def _head_only_teacher(hf_encoder_dir, sentiment_csv, out, monkeypatch):
    """Train a head-only teacher, recording the head it chose; returns (splits, head, train mean, train std)."""
    fitted = {}
    real_fit = teacher._fit_logreg
    monkeypatch.setattr(teacher, "_fit_logreg", lambda *a: fitted.setdefault(a[3], real_fit(*a)))
    data = load_labelled(sentiment_csv)
    parts = split(data)
    info = train_head(hf_encoder_dir, data, out, TeacherConfig(max_seq_len=16, finetune_epochs=0), parts)
    train_feats, _ = _bert_mean_pooled(hf_encoder_dir, parts.get("train"), 16)
    return parts, fitted[info["l2"]], train_feats.mean(0), train_feats.std(0)


def test_saved_teacher_is_the_fitted_head_on_standardised_base_features(hf_encoder_dir, sentiment_csv, tmp_path,
                                                                         monkeypatch):
    """With finetune_epochs=0 the teacher is exactly: base encoder, mean pooling, the chosen
    logistic-regression head on features standardised with the train split's statistics."""
    parts, head, mean, std = _head_only_teacher(hf_encoder_dir, sentiment_csv, tmp_path / "t", monkeypatch)
    feats, enc = _bert_mean_pooled(hf_encoder_dir, parts.get("test"), 16)
    model = load_model(tmp_path / "t")
    with torch.no_grad():
        expected = head((feats - mean) / std)
        got = model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
        unstandardised = head(feats)
    assert (got - expected).abs().max().item() <= 1e-4
    # the check has teeth: the standardisation moves these logits far beyond the tolerance
    assert (unstandardised - expected).abs().max().item() > 0.1
    assert expected.std(0).min().item() > 0.01  # the logits depend on the input

    base = load_model(hf_encoder_dir, label_names=["neg", "pos"], pooling="mean")
    # encoder untouched when finetune_epochs=0: only the classifier differs
    for (k, a), (_, b) in zip(model.state_dict().items(), base.state_dict().items()):
        if not k.startswith("classifier."):
            assert torch.equal(a, b), k


def test_head_training_stores_the_saved_teachers_logits_for_distillation(hf_encoder_dir, sentiment_csv, tmp_path,
                                                                         monkeypatch):
    """The logits kept for distillation are what the saved teacher outputs (reference: transformers'
    encoder + the fitted head), for train, dev and test, without another forward pass."""
    from edgebert import teacher_outputs

    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    parts, head, mean, std = _head_only_teacher(hf_encoder_dir, sentiment_csv, tmp_path / "t", monkeypatch)

    def no_forward(missing):
        raise AssertionError(f"{len(missing)} examples were not stored")

    for name in ("train", "dev", "test"):
        feats, _ = _bert_mean_pooled(hf_encoder_dir, parts.get(name), 16)
        with torch.no_grad():
            expected = head((feats - mean) / std)
        stored = teacher_outputs.logits_for(tmp_path / "t", 16, parts.get(name), no_forward)
        assert (stored - expected).abs().max().item() <= 1e-4, name


def test_a_fine_tuned_encoder_stores_nothing(hf_encoder_dir, sentiment_csv, tmp_path, monkeypatch):
    """Fine-tuned top layers change the features, so the pooled ones no longer give the teacher's logits."""
    from edgebert import teacher_outputs

    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))

    def improve(model, *a):
        with torch.no_grad():
            model.encoder.layer[-1].output.dense.bias.add_(1.0)
        return 2.0  # better than any head-only dev accuracy: the fine-tuned encoder is kept

    monkeypatch.setattr(teacher, "_finetune_top", improve)
    data = load_labelled(sentiment_csv)
    train_head(hf_encoder_dir, data, tmp_path / "t", TeacherConfig(max_seq_len=16, finetune_top_layers=1))
    computed = []
    teacher_outputs.logits_for(tmp_path / "t", 16, data.examples[:5],
                               lambda missing: computed.extend(missing) or torch.zeros(len(missing), 2))
    assert len(computed) == 5


def test_shipped_teachers_by_name(monkeypatch):
    import pytest

    from edgebert.errors import EdgebertError

    assert teacher.DEFAULT_TEACHER == "mpnet-base" and {"mpnet-base", "minilm-l6"} <= set(teacher.SHIPPED_TEACHERS)
    assert teacher.SHIPPED_TEACHERS["mpnet-base"].config.finetune_top_layers == 0
    with pytest.raises(EdgebertError, match="no shipped teacher named 'bert-huge'") as exc:
        teacher.default_teacher("bert-huge")
    assert "mpnet-base, minilm-l6" in exc.value.hint
