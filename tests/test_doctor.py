import importlib.metadata as md
import json
import sys

from typer.testing import CliRunner

from edgebert.cli import app
from edgebert.doctor import PackageStatus, pinned_versions, run_doctor


def test_pins_come_from_package_metadata():
    pins = pinned_versions()
    assert pins["torch"] == "2.13.0" and pins["numpy"] == "2.3.5" and pins["executorch"] == "1.4.1"


def test_package_status_compares_public_version():
    assert PackageStatus("torch", "2.13.0+cpu", "2.13.0").ok
    assert not PackageStatus("torch", "2.14.0", "2.13.0").ok
    assert not PackageStatus("torch", None, "2.13.0").ok


def test_doctor_sees_every_target_and_tool():
    rep = run_doctor(check_imports=False)
    assert [t.target for t in rep.targets] == ["executorch", "tflite", "coreml", "onnx"]
    assert {"adb", "ssh", "chromium"} <= set(rep.tools)
    assert next(p for p in rep.packages if p.name == "torch").installed.startswith("2.13.0")


def _doctor(*args):
    res = CliRunner().invoke(app, ["doctor", *args])
    return res, (json.loads(res.stdout) if "--json" in args else None)


def _row(text: str, table: str, first_cell: str) -> str:
    """The line of the doctor's ``table`` (packages, targets) whose first cell is ``first_cell``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == table)
    return next(line for line in lines[start:] if line.strip("│┃ ").startswith(first_cell + " "))


def test_doctor_json_on_this_environment():
    res, doc = _doctor("--json")
    by_target = {t["target"]: t for t in doc["targets"]}
    # the pinned environment (the one tests run in) exports every target; CoreML cannot run on Linux
    assert all(t["can_export"] for t in doc["targets"]), doc["targets"]
    assert by_target["onnx"]["can_run"] and by_target["executorch"]["can_run"] and by_target["tflite"]["can_run"]
    assert all(p["ok"] for p in doc["packages"]), doc["packages"]
    assert doc["healthy"] is True and res.exit_code == 0


def test_missing_pinned_package_is_unhealthy_and_named(monkeypatch):
    """A pinned package that is not installed must fail the environment, naming the package."""
    real_version = md.version

    def version(dist):
        if dist == "onnxruntime":
            raise md.PackageNotFoundError(dist)
        return real_version(dist)

    monkeypatch.setattr(md, "version", version)
    res, doc = _doctor("--json")
    assert [(p["name"], p["installed"], p["ok"]) for p in doc["packages"] if not p["ok"]] == [
        ("onnxruntime", None, False)]
    assert doc["healthy"] is False and res.exit_code == 1
    res, _ = _doctor()
    assert res.exit_code == 1 and "environment has problems" in res.stdout
    assert "missing" in _row(res.stdout, "packages", "onnxruntime")
    assert "missing" not in _row(res.stdout, "packages", "onnxscript")


def test_target_that_cannot_import_its_exporter_is_unhealthy_and_named(monkeypatch):
    """A target whose export module fails to import must fail the environment, naming the module."""
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # `import onnxscript` now raises ImportError
    res, doc = _doctor("--json")
    broken = [t for t in doc["targets"] if not t["can_export"]]
    assert [t["target"] for t in broken] == ["onnx"] and broken[0]["detail"].startswith("onnxscript: ")
    assert doc["healthy"] is False and res.exit_code == 1
    res, _ = _doctor()
    assert res.exit_code == 1 and "environment has problems" in res.stdout
    row = _row(res.stdout, "targets", "onnx")
    assert "no" in row.split() and "onnxscript" in row and "no" not in _row(res.stdout, "targets", "tflite").split()
