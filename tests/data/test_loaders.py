import json

import pytest

from edgebert.data import Columns, load_labelled
from edgebert.errors import DataError


def test_csv_with_conventional_columns(sentiment_csv):
    data = load_labelled(sentiment_csv)
    assert len(data) == 200 and data.label_names == ["neg", "pos"]
    assert not data.is_pair


def test_tsv_jsonl_and_pairs(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text('sentence1\tsentence2\tlabel\na "quoted" cat\ta dog\tentailment\nx\ty\tcontradiction\n')
    d = load_labelled(tsv)
    assert d.is_pair and d.examples[0].text == 'a "quoted" cat' and d.examples[0].text_pair == "a dog"
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps({"review": t, "target": l}) for t, l in [("good", 1), ("bad", 0), ("ok", 2)]))
    d = load_labelled(jl)
    assert d.label_names == ["0", "1", "2"] and d.examples[0].label == "1"


def test_numeric_labels_sort_numerically(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("text,label\n" + "".join(f"t{i},{i % 11}\n" for i in range(22)))
    assert load_labelled(p).label_names == [str(i) for i in range(11)]


def test_explicit_columns_and_model_label_order(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("body,klass\nnice,pos\nugly,neg\n")
    d = load_labelled(p, Columns(text="body", label="klass"), label_names=["pos", "neg"])
    assert d.label_names == ["pos", "neg"] and d.label_ids() == [0, 1]


def test_datasets_folder_with_classlabel_and_splits(tmp_path):
    import datasets

    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}, features=feats),
        "validation": datasets.Dataset.from_dict({"text": ["d"], "label": [1]}, features=feats),
        "test": datasets.Dataset.from_dict({"text": ["e", "f"], "label": [1, 0]}, features=feats),
    })
    dd.save_to_disk(str(tmp_path / "ds"))
    d = load_labelled(tmp_path / "ds")
    assert d.label_names == ["neg", "pos"]
    assert {k: len(v) for k, v in d.given_splits.items()} == {"train": 3, "dev": 1, "test": 2}
    assert d.given_splits["test"][0].label == "pos"


@pytest.mark.parametrize("case,expected", [
    ("missing", "does not exist"),
    ("no_label", "no label column"),
    ("no_text", "no text column"),
    ("unknown_label", "does not know"),
    ("empty", "no usable examples"),
    ("one_label", "only one label"),
    ("bad_ext", "unsupported data file"),
    ("wrong_column", "no label column 'lbl'"),
    ("bad_json", "cannot parse"),
    ("not_datasets", "not a datasets folder"),
])
def test_bad_data_gives_one_line_errors(tmp_path, case, expected):
    p = tmp_path / "d.csv"
    kwargs = {}
    if case == "missing":
        p = tmp_path / "nope.csv"
    elif case == "no_label":
        p.write_text("text\nhello\n")
    elif case == "no_text":
        p.write_text("words,label\nhello,a\n")
    elif case == "unknown_label":
        p.write_text("text,label\nhi,a\nyo,zzz\n")
        kwargs["label_names"] = ["a", "b"]
    elif case == "empty":
        p.write_text("text,label\n")
    elif case == "one_label":
        p.write_text("text,label\nhi,a\nyo,a\n")
    elif case == "bad_ext":
        p = tmp_path / "d.xlsx"
        p.write_text("x")
    elif case == "wrong_column":
        p.write_text("text,label\nhi,a\n")
        kwargs["columns"] = Columns(label="lbl")
    elif case == "bad_json":
        p = tmp_path / "d.jsonl"
        p.write_text("{broken\n")
    elif case == "not_datasets":
        p = tmp_path / "folder"
        p.mkdir()
    with pytest.raises(DataError, match=expected) as info:
        load_labelled(p, **kwargs)
    assert "\n" not in info.value.one_line()
