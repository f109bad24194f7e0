"""Each TinyBERT loss is zero for a perfect student, positive otherwise, and ignores padding."""

import copy

import pytest
import torch

from edgebert.compression.distill import DistillWrapper, LossWeights, Objective
from edgebert.compression.losses import (attention_mse, hard_cross_entropy, hidden_mse, match_heads,
                                         resolve_layer_map, soft_cross_entropy)
from edgebert.errors import EdgebertError

MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])


def test_hidden_mse_zero_equal_positive_otherwise_and_ignores_padding():
    torch.manual_seed(0)
    t = torch.randn(2, 4, 8)
    assert hidden_mse(t.clone(), t, MASK) == 0
    s = t + 0.1 * torch.randn_like(t)
    assert hidden_mse(s, t, MASK) > 0
    padded_only = t.clone()
    padded_only[0, 3] += 5.0  # a padding position
    padded_only[1, 2:] -= 5.0
    assert hidden_mse(padded_only, t, MASK) == 0


def test_projection_gets_gradients_and_width_mismatch_needs_it():
    torch.manual_seed(0)
    s = torch.randn(2, 4, 6, requires_grad=True)
    t = torch.randn(2, 4, 8)
    proj = torch.nn.Linear(6, 8)
    hidden_mse(s, t, MASK, proj).backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    assert s.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        hidden_mse(s, t, MASK)


def test_attention_mse_zero_positive_and_masks_rows_and_columns():
    torch.manual_seed(0)
    t = torch.randn(2, 4, 4, 4)
    assert attention_mse(t.clone(), t, MASK) == 0
    assert attention_mse(t + 0.1, t, MASK) > 0
    s = t.clone()
    s[0, :, 3, :] = 99.0  # padded query row
    s[0, :, :, 3] = -99.0  # padded key column
    s[1, :, :, 2:] = 7.0
    assert attention_mse(s, t, MASK) == 0
    s[0, 1, 0, 0] += 1.0  # a real position
    assert attention_mse(s, t, MASK) > 0


def test_attention_head_count_mismatch_average_or_map():
    torch.manual_seed(0)
    t = torch.randn(2, 4, 4, 4)
    grouped = t.reshape(2, 2, 2, 4, 4).mean(2)
    assert attention_mse(grouped, t, MASK) == 0  # 4 teacher heads averaged into 2 groups
    assert attention_mse(t[:, [0, 3]], t, MASK, head_index=[0, 3]) == 0  # map by provenance
    assert attention_mse(t[:, [0, 3]], t, MASK, head_index=[1, 2]) > 0
    s3, t3 = match_heads(torch.randn(2, 3, 4, 4), t)  # 3 vs 4: compare head averages
    assert s3.shape[1] == t3.shape[1] == 1


def test_soft_cross_entropy_is_kl_scaled_by_t_squared():
    torch.manual_seed(0)
    t = torch.randn(5, 3)
    for temp in (1.0, 2.0, 4.0):
        assert soft_cross_entropy(t.clone(), t, temp).abs() < 1e-7
    s = torch.randn(5, 3)
    assert soft_cross_entropy(s, t, 1.0) > 0
    kl = torch.nn.functional.kl_div(torch.log_softmax(s / 2, -1), torch.softmax(t / 2, -1), reduction="batchmean")
    assert torch.allclose(soft_cross_entropy(s, t, 2.0), kl * 4, atol=1e-6)


def test_hard_ce_ignores_augmented_examples():
    logits = torch.randn(3, 2, requires_grad=True)
    labels = torch.tensor([1, -100, 0])
    full = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert torch.allclose(hard_cross_entropy(logits, labels), full)
    none = hard_cross_entropy(logits, torch.tensor([-100, -100, -100]))
    assert none == 0
    none.backward()  # still differentiable


def test_layer_maps():
    assert resolve_layer_map("uniform", 3, 6) == [(0, 1), (1, 3), (2, 5)]  # TinyBERT g(m)=2m, 1-based
    assert resolve_layer_map("uniform", 4, 6) == [(0, 0), (1, 2), (2, 3), (3, 5)]
    assert resolve_layer_map("last", 4, 6) == [(3, 5)]
    assert resolve_layer_map([0, 1, 2, 4], 4, 6) == [(0, 0), (1, 1), (2, 2), (3, 4)]
    assert resolve_layer_map("auto", 4, 6, [0, 1, 2, 4]) == [(0, 0), (1, 1), (2, 2), (3, 4)]
    assert resolve_layer_map("auto", 3, 6, None) == resolve_layer_map("uniform", 3, 6)
    with pytest.raises(EdgebertError, match="teacher layer 6"):
        resolve_layer_map([0, 1, 2, 6], 4, 6)
    with pytest.raises(EdgebertError, match="lists 2"):
        resolve_layer_map([0, 1], 4, 6)


def _objective_terms(student, teacher, enc, proj_width=None):
    w = LossWeights(embedding=1, hidden=1, attention=1, logits=1)
    pairs = resolve_layer_map("uniform", student.num_layers, teacher.num_layers)
    wrapper = DistillWrapper(student, proj_width).eval()
    b = enc.batch(slice(0, 8))
    logits, hid, sc = wrapper(**b, hidden=True, scores=True)
    with torch.no_grad():
        t = teacher.forward_features(**b, output_hidden_states=True, output_attention_scores=True)
    return Objective(w, 2.0, pairs)(logits, hid, sc, t, t.logits, b["attention_mask"], enc.labels[:8])


def test_objective_zero_for_identical_student_and_positive_after_change(tiny_model, enc):
    student = copy.deepcopy(tiny_model)
    total, terms = _objective_terms(student, tiny_model, enc)
    assert set(terms) == {"emb", "hid", "att", "kd", "loss"}
    assert all(abs(v) < 1e-10 for v in terms.values()), terms
    with torch.no_grad():
        student.encoder.layer[0].attention.self.query.weight.add_(0.05)
        student.embeddings.word_embeddings.weight.mul_(1.1)
    total, terms = _objective_terms(student, tiny_model, enc)
    assert all(terms[k] > 0 for k in ("emb", "hid", "att", "kd")), terms


def test_gradients_reach_projection_and_student(tiny_model, enc):
    from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification

    cfg = EdgeBertConfig.uniform(vocab_size=tiny_model.config.vocab_size, hidden_size=16, num_layers=1, num_heads=2,
                                 intermediate_size=24, max_position_embeddings=64)
    narrow = EdgeBertForSequenceClassification(cfg)
    w = LossWeights(embedding=1, hidden=1, attention=1, logits=1)
    wrapper = DistillWrapper(narrow, 32)
    assert wrapper.proj is not None
    b = enc.batch(slice(0, 8))
    logits, hid, sc = wrapper(**b, hidden=True, scores=True)
    with torch.no_grad():
        t = tiny_model.forward_features(**b, output_hidden_states=True, output_attention_scores=True)
    total, _ = Objective(w, 1.0, resolve_layer_map("uniform", 1, 2))(logits, hid, sc, t, t.logits,
                                                                     b["attention_mask"], enc.labels[:8])
    total.backward()
    assert wrapper.proj.weight.grad.abs().sum() > 0
    assert narrow.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
