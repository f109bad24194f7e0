import torch

from edgebert.data import load_labelled, split
from edgebert.evaluation import cpu_latency, evaluate, macro_f1
from edgebert.model import load_model


def test_macro_f1_by_hand():
    pred = torch.tensor([0, 0, 1, 1])
    gold = torch.tensor([0, 1, 1, 1])
    # class 0: tp1 fp1 fn0 -> 2/3 ; class 1: tp2 fp0 fn1 -> 4/5
    assert abs(macro_f1(pred, gold, 2) - (2 / 3 + 4 / 5) / 2) < 1e-9


def test_evaluate_reports_splits_size_and_latency(hf_bert_dir, sentiment_csv):
    data = load_labelled(sentiment_csv, label_names=["neg", "pos"])
    rep = evaluate(hf_bert_dir, split(data), ["dev", "test"], max_seq_len=16, latency_runs=3)
    assert [s.split for s in rep.splits] == ["dev", "test"]
    assert all(0 <= s.accuracy <= 1 and s.examples == 20 for s in rep.splits)
    assert rep.parameters == load_model(hf_bert_dir).num_parameters()
    assert rep.size_bytes == (hf_bert_dir / "model.safetensors").stat().st_size
    assert rep.latency.runs == 3 and rep.latency.p50_ms > 0 and rep.latency.seq_len == 16


def test_latency_percentiles_are_ordered(hf_bert_dir):
    lat = cpu_latency(load_model(hf_bert_dir), 8, runs=10, warmup=1)
    assert 0 < lat.p50_ms <= lat.p90_ms
