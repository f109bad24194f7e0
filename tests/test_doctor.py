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


def test_doctor_json_on_this_environment():
    import json

    res = CliRunner().invoke(app, ["doctor", "--json"])
    doc = json.loads(res.stdout)
    by_target = {t["target"]: t for t in doc["targets"]}
    # the pinned environment exports every target; CoreML cannot run on Linux
    assert all(t["can_export"] for t in doc["targets"]), doc["targets"]
    assert by_target["onnx"]["can_run"] and by_target["executorch"]["can_run"] and by_target["tflite"]["can_run"]
    assert res.exit_code == (0 if doc["healthy"] else 1)
