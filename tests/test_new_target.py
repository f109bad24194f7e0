"""A target owns its facts: one exporter class plus one device loader file, registered here
in the test, appears in doctor, export, bench and the run report with no other edit."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgebert.cli import app
from edgebert.devices import runners
from edgebert.exporters import register_exporter, unregister_exporter
from edgebert.exporters.base import Artifact
from edgebert.exporters.targets.onnx import OnnxExporter

COLOUR = "#123456"


class ThrowawayExporter(OnnxExporter):
    """ONNX under another name and suffix: what a new target looks like to the other wings."""

    target = "throwaway"
    suffix = ".tonnx"
    format = "tonnx"
    colour = COLOUR
    runs_in_browser = False

    def export(self, req) -> Artifact:
        art = super().export(req)
        moved = art.path.with_suffix(self.suffix)
        art.path.rename(moved)
        art.path, art.target = moved, self.target
        return art


@pytest.fixture
def throwaway(tmp_path):
    loader = tmp_path / "loaders" / "loader_tonnx.py"
    loader.parent.mkdir()
    loader.write_text(runners.loader_file("onnx").read_text().replace('SUFFIX = ".onnx"', 'SUFFIX = ".tonnx"'))
    register_exporter(ThrowawayExporter)
    runners.register_loader("tonnx", loader)
    yield
    unregister_exporter("throwaway")
    runners._EXTRA_LOADERS.pop("tonnx", None)


def test_a_new_target_reaches_every_wing(throwaway, teacher_dir, sentiment_csv, tmp_path):
    run = CliRunner().invoke
    doc = json.loads(run(app, ["doctor", "--json"]).stdout)
    row = next(t for t in doc["targets"] if t["target"] == "throwaway")
    assert row["can_export"] and row["can_run"]

    res = run(app, ["export", str(teacher_dir), "--target", "throwaway", "--calibration", str(sentiment_csv),
                    "--seq-len", "16", "--calib-size", "4", "--eval-limit", "16", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    bundle = tmp_path / "b" / "throwaway-fp32"
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["target"] == "throwaway" and (bundle / "model.tonnx").is_file() and meta["gates"]["passed"]

    res = run(app, ["bench", str(bundle), "--teacher", str(bundle), "--device", "host", "--runs", "2",
                    "--min-seconds", "0", "--warmup", "0", "--out", str(tmp_path / "bench")])
    assert res.exit_code == 0, res.output
    bench = json.loads((tmp_path / "bench" / "bench.json").read_text())
    m = bench["measurements"][0]
    assert m["format"] == "tonnx" and m["status"] == "measured" and m["result"]["latency_ms"]["p50"] > 0

    from edgebert.pipeline.run import run_pipeline
    from edgebert.pipeline.spec import parse_run_spec

    recipe = {"name": "tiny", "batch_size": 16, "max_seq_len": 16, "student": {"init": "teacher_layers", "layers": [0]},
              "stages": [{"type": "distill", "phase": "prediction", "epochs": 1}]}
    spec = parse_run_spec({"name": "t", "teacher": str(teacher_dir), "data": str(sentiment_csv),
                           "compress": {"recipe": recipe, "max_steps": 2},
                           "export": {"targets": ["throwaway"], "eval_limit": 16, "calib_size": 4,
                                      "student_precision": {"throwaway": "int8-dynamic"}},
                           "bench": {"devices": ["host"], "runs": 2, "min_seconds": 0.0, "warmup": 0}}, "test")
    result = run_pipeline(spec, tmp_path / "run")
    names = {a["name"] for a in result.report["artifacts"]}
    assert names == {"teacher throwaway fp32", "student throwaway int8-dynamic"}
    assert "| student throwaway int8-dynamic |" in (result.report_dir / "report.md").read_text()
