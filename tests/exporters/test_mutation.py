"""A broken export must be caught twice: by its parity gate, and by the bench's sanity check.

Each target that runs here exports the shared tiny classifier through the real
``export_model`` path with the artifact deliberately broken in a way real exporters have
broken (mask dropped, inputs swapped, output stuck), while the gates' reference stays the
correct PyTorch model. The gate must reject the bundle; ``edgebert bench --device host`` of
it must report a failed sanity check against the recorded PyTorch reference (before
reference.json the host compared the runtime with itself: max diff 0.0 for anything). An
unbroken export passes both (the control), so neither check fails everything.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edgebert.cli import app
from edgebert.data import load_labelled
from edgebert.exporters import get_exporter
from edgebert.exporters.export import ExportOptions, export_model

TARGETS = ("executorch", "tflite", "onnx")
SEQ_LEN = 16


class _Broken(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner, self.config = inner, inner.config  # exporters read the config (labels, positions)


class MaskIgnored(_Broken):
    def forward(self, input_ids, attention_mask, token_type_ids):
        # still reads the input (a converter may drop an unused one): every position attended
        return self.inner(input_ids, attention_mask.clamp(min=1), token_type_ids)


class InputsSwapped(_Broken):
    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.inner(input_ids, token_type_ids, attention_mask)


class Constant(_Broken):
    """The model stuck at its average output over the calibration examples."""

    def __init__(self, inner, calibration):
        super().__init__(inner)
        with torch.no_grad():
            mean = torch.cat([inner(b["input_ids"], b["attention_mask"], b["token_type_ids"]) for b in calibration])
        self.register_buffer("stuck", mean.mean(0, keepdim=True))  # not "logits": the output's name

    def forward(self, input_ids, attention_mask, token_type_ids):
        used = [(x[:, :1] >= 0).float() for x in (input_ids, attention_mask, token_type_ids)]  # 1.0, kept as inputs
        return used[0] * used[1] * used[2] * self.stuck


BREAKS = {"control": None, "mask-ignored": lambda req: MaskIgnored(req.model),
          "inputs-swapped": lambda req: InputsSwapped(req.model),
          "constant": lambda req: Constant(req.model, req.calibration)}


def _breaking(mp: pytest.MonkeyPatch, wrap) -> None:
    """Every target's ``export`` exports the wrapped model; the gates still compare with the real one."""
    for target in TARGETS:
        cls = type(get_exporter(target))
        real = cls.export
        mp.setattr(cls, "export", lambda self, req, real=real: real(self, dataclasses.replace(req, model=wrap(req))))


@pytest.fixture(scope="module")
def mutants(hf_bert_dir, sentiment_csv, tmp_path_factory):
    """{(target, break): (BundleResult, bench sanity record)}: every bundle in one bench session."""
    data = load_labelled(sentiment_csv, label_names=["neg", "pos"])
    out = tmp_path_factory.mktemp("mutation")
    opts = ExportOptions(list(TARGETS), seq_len=SEQ_LEN, calib_size=4, eval_limit=16)
    results = {}
    for name, wrap in BREAKS.items():
        with pytest.MonkeyPatch.context() as mp:
            if wrap is not None:
                _breaking(mp, wrap)
            for res in export_model(hf_bert_dir, data, out / name, opts):
                results[(res.target, name)] = res
    bench = out / "bench"
    run = CliRunner().invoke(app, ["bench", *(str(r.path) for r in results.values()), "--device", "host",
                                   "--allow-failed-gates", "--runs", "1", "--min-seconds", "0", "--warmup", "0",
                                   "--threads", "1", "--out", str(bench)])
    assert run.exit_code == 0, run.output
    sanity = {m["bundle"]: m["sanity"] for m in json.loads((bench / "bench.json").read_text())["measurements"]}
    return {key: (res, sanity[str(res.path.resolve())]) for key, res in results.items()}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("broken", [b for b in BREAKS if b != "control"])
def test_a_broken_export_fails_its_gate_and_the_device_check(mutants, target, broken):
    res, sanity = mutants[(target, broken)]
    assert res.status == "rejected" and res.path.name == f"{target}-fp32.rejected", res.metadata["gates"]
    gates = res.metadata["gates"]
    # a length-flexible artifact fed unpadded sentences never sees [PAD]: a mask-ignoring one is
    # caught by the examples also run padded to the maximum
    failed = [k for k in ("parity", "parity_at_max_length") if k in gates and not gates[k]["passed"]]
    assert failed and res.metadata["rejected_because"], gates
    if broken == "mask-ignored" and "parity_at_max_length" in gates:
        assert any("padded to the maximum length" in r for r in res.metadata["rejected_because"])
    assert sanity["checked"] and sanity["passed"] is False, sanity
    assert sanity["against"] == "recorded PyTorch reference", sanity


@pytest.mark.parametrize("target", TARGETS)
def test_a_correct_export_passes_both(mutants, target):
    res, sanity = mutants[(target, "control")]
    assert res.status == "passed" and res.path.name == f"{target}-fp32", res.metadata["rejected_because"]
    assert sanity["against"] == "recorded PyTorch reference" and sanity["passed"], sanity
    assert sanity["max_abs_diff"] < sanity["tolerance"] / 10


@pytest.mark.parametrize("broken", list(BREAKS))
def test_the_reference_is_pytorch_not_the_artifact(mutants, hf_bert_dir, broken):
    """reference.json holds the PyTorch model's logits for real held-out examples of both
    classes, whatever the artifact computes (recomputed here from the checkpoint and the text)."""
    from edgebert.data import Example, encode, load_tokenizer
    from edgebert.model import load_model

    res, _ = mutants[("onnx", broken)]
    assert json.loads((res.path / "metadata.json").read_text())["reference"]["file"] == "reference.json"
    ref = json.loads((res.path / "reference.json").read_text())
    rows = ref["examples"]
    assert len(rows) == 8 and ref["labels"] == ["neg", "pos"]
    enc = encode(load_tokenizer(hf_bert_dir), [Example(r["text"]) for r in rows], SEQ_LEN)
    assert enc.input_ids.tolist() == [r["input_ids"] for r in rows]
    assert enc.attention_mask.tolist() == [r["attention_mask"] for r in rows]
    with torch.no_grad():
        want = load_model(hf_bert_dir).eval()(enc.input_ids, enc.attention_mask, enc.token_type_ids).numpy()
    got = np.array([r["logits"] for r in rows])
    assert np.abs(got - want).max() < 1e-5
    assert set(got.argmax(1)) == {0, 1}
