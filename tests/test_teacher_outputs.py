"""A frozen teacher's logits per example: computed once, reused, recomputed when anything they depend on changes."""

import torch

from edgebert import teacher_outputs
from edgebert.data import Example

EXAMPLES = [Example(f"text {i}", "pos") for i in range(6)]


def _teacher(tmp_path):
    folder = tmp_path / "teacher"
    folder.mkdir(exist_ok=True)
    (folder / "model.safetensors").write_bytes(b"weights v1")
    return folder


def _compute(calls):
    def compute(missing):  # logits that depend on the text, so rows cannot be confused
        calls.append([e.text for e in missing])
        return torch.tensor([[float(e.text.split()[1]), -float(e.text.split()[1])] for e in missing])
    return compute


def test_only_missing_rows_are_computed_and_order_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    t, calls = _teacher(tmp_path), []
    first = teacher_outputs.logits_for(t, 64, EXAMPLES[:4], _compute(calls))
    again = teacher_outputs.logits_for(t, 64, list(reversed(EXAMPLES)), _compute(calls))
    assert calls == [[f"text {i}" for i in range(4)], ["text 5", "text 4"]]
    assert first[:, 0].tolist() == [0, 1, 2, 3] and again[:, 0].tolist() == [5, 4, 3, 2, 1, 0]


def test_other_length_other_weights_or_a_damaged_file_recompute(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    t, calls = _teacher(tmp_path), []
    teacher_outputs.logits_for(t, 64, EXAMPLES, _compute(calls))
    teacher_outputs.logits_for(t, 32, EXAMPLES, _compute(calls))  # other sequence length: other logits
    assert len(calls) == 2
    (t / "model.safetensors").write_bytes(b"weights v2, longer")  # retrained teacher
    teacher_outputs.logits_for(t, 64, EXAMPLES, _compute(calls))
    assert len(calls) == 3
    for f in (tmp_path / "cache" / "teacher-outputs").glob("*.safetensors"):
        f.write_bytes(b"garbage")
    got = teacher_outputs.logits_for(t, 64, EXAMPLES, _compute(calls))
    assert len(calls) == 4 and got[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    teacher_outputs.logits_for(t, 64, EXAMPLES, _compute(calls))  # and stored again
    assert len(calls) == 4


def test_text_pairs_are_their_own_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEBERT_CACHE", str(tmp_path / "cache"))
    t, calls = _teacher(tmp_path), []
    teacher_outputs.logits_for(t, 64, [Example("text 1", "pos")], _compute(calls))
    teacher_outputs.logits_for(t, 64, [Example("text 1", "pos", "text 9")], _compute(calls))
    assert len(calls) == 2
