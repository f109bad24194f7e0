"""Student initialisation from teacher layers, another checkpoint, or random."""

import pytest
import torch

from edgebert.compression.student import StudentSpec, copy_layers, init_student
from edgebert.compression.teacher_model import load_teacher
from edgebert.errors import EdgebertError


def test_teacher_layers_copies_exact_weights_and_records_provenance(teacher_dir):
    teacher = load_teacher(teacher_dir)
    student, tok_dir = init_student(StudentSpec(init="teacher_layers", layers=[0, 1, 3]), teacher)
    assert student.num_layers == 3 and tok_dir == teacher.path
    t_state, s_state = teacher.model.state_dict(), student.state_dict()
    for i, j in enumerate([0, 1, 3]):
        for name in ("attention.self.query.weight", "output.dense.bias"):
            assert torch.equal(s_state[f"encoder.layer.{i}.{name}"], t_state[f"encoder.layer.{j}.{name}"])
    assert torch.equal(s_state["embeddings.word_embeddings.weight"], t_state["embeddings.word_embeddings.weight"])
    prov = student.config.provenance
    assert prov["kept_layers"] == [0, 1, 3]
    assert prov["student_init"] == {"method": "teacher_layers", "teacher": str(teacher.path), "layers": [0, 1, 3]}
    assert all(p.requires_grad for p in student.parameters())
    assert all(not p.requires_grad for p in teacher.model.parameters())


def test_all_layers_copy_reproduces_teacher_logits(teacher_dir, enc):
    teacher = load_teacher(teacher_dir)
    student, _ = init_student(StudentSpec(init="teacher_layers", layers=[0, 1, 2, 3]), teacher)
    b = enc.batch(slice(0, 6))
    assert torch.allclose(student.eval()(**b), teacher.model(**b), atol=1e-6)


def test_copy_layers_composes_provenance(teacher_dir):
    teacher = load_teacher(teacher_dir)
    first = copy_layers(teacher.model, [1, 2, 3])
    assert copy_layers(first, [0, 2]).config.provenance["kept_layers"] == [1, 3]
    with pytest.raises(EdgebertError, match="layer 3 does not exist"):
        copy_layers(first, [3])


def test_random_student_has_requested_shape(teacher_dir):
    teacher = load_teacher(teacher_dir)
    spec = StudentSpec(init="random", num_layers=2, hidden_size=16, num_heads=2, intermediate_size=20)
    student, _ = init_student(spec, teacher, seed=3)
    again, _ = init_student(spec, teacher, seed=3)
    assert [l.num_heads for l in student.config.layers] == [2, 2] and student.config.hidden_size == 16
    assert student.config.label_names == teacher.label_names
    assert torch.equal(student.embeddings.word_embeddings.weight, again.embeddings.word_embeddings.weight)


def test_checkpoint_student_of_smaller_width(tmp_path, teacher_dir):
    from edgebert.model import EdgeBertConfig, EdgeBertForSequenceClassification, save_checkpoint

    teacher = load_teacher(teacher_dir)
    cfg = EdgeBertConfig.uniform(vocab_size=teacher.model.config.vocab_size, hidden_size=16, num_layers=2,
                                 num_heads=2, intermediate_size=24, max_position_embeddings=64,
                                 label_names=["neg", "pos"])
    save_checkpoint(EdgeBertForSequenceClassification(cfg), tmp_path / "small", tokenizer_from=teacher_dir)
    student, tok_dir = init_student(StudentSpec(init="checkpoint", path=str(tmp_path / "small")), teacher)
    assert student.config.hidden_size == 16 and tok_dir == tmp_path / "small"
    assert student.config.provenance["student_init"]["method"] == "checkpoint"


@pytest.mark.parametrize("spec,match", [
    (StudentSpec(init="teacher_layers"), "needs 'layers'"),
    (StudentSpec(init="random", num_layers=2), "needs 'hidden_size'"),
    (StudentSpec(init="checkpoint"), "needs 'path'"),
    (StudentSpec(init="copy"), "unknown init 'copy'"),
    (StudentSpec(init="teacher_layers", layers=[0, 0]), "repeats"),
    (StudentSpec(init="random", num_layers=1, hidden_size=30, num_heads=4, intermediate_size=8), "divisible"),
])
def test_bad_specs_are_one_line_errors(teacher_dir, spec, match):
    with pytest.raises(EdgebertError, match=match) as info:
        init_student(spec, load_teacher(teacher_dir))
    assert "\n" not in info.value.one_line()


def test_checkpoint_student_keeps_chosen_layers_of_a_shipped_encoder(tmp_path, teacher_dir, monkeypatch):
    """``init: checkpoint, path: minilm-l6, layers: [...]``: a shipped encoder by name, layers subset."""
    import builders
    from edgebert import assets
    from edgebert.compression.student import student_depth
    from edgebert.model import load_model

    hf = builders.make_hf_bert(tmp_path / "enc", layers=4, seed=3, head=False)
    monkeypatch.setitem(assets.SHIPPED_ENCODERS, "minilm-l6",
                        assets.ShippedEncoder("minilm-l6", (), lambda: hf))
    teacher = load_teacher(teacher_dir)
    spec = StudentSpec(init="checkpoint", path="minilm-l6", layers=[0, 3])
    assert student_depth(spec, teacher.num_layers, True) == 2
    student, tok_dir = init_student(spec, teacher)
    full = load_model(hf, label_names=["neg", "pos"], pooling="mean")
    s, f = student.state_dict(), full.state_dict()
    for i, j in enumerate([0, 3]):
        assert torch.equal(s[f"encoder.layer.{i}.attention.self.query.weight"],
                           f[f"encoder.layer.{j}.attention.self.query.weight"])
    assert tok_dir == hf and student.num_layers == 2
    assert student.config.provenance["student_init"]["layers"] == [0, 3]
    with pytest.raises(EdgebertError, match="name checkpoint layer 4"):
        student_depth(StudentSpec(init="checkpoint", path="minilm-l6", layers=[4]), teacher.num_layers, True)
