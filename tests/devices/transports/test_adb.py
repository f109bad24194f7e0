"""The adb transport end to end: the real Debian ``adb`` client against the adb protocol test
server in ``adbd_server.py`` (which is NOT Android: commands run on this host). Real phones:
``EDGEBERT_ADB_SERIAL=<serial> pytest tests/devices/test_adb.py -k real_phone``.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from edgebert.devices import DeviceError, DeviceGone, DeviceTimeout, get_transport
from edgebert.devices.transports.adb import AdbTransport, parse_devices, parse_thermal



def _host(adbd, remote: str):
    return adbd.host_path(remote)


def test_discover_and_describe(adbd):
    assert f"adb:{adbd.serial}" in AdbTransport.discover()
    assert get_transport("adb").serial == adbd.serial  # the only device: no serial needed
    with get_transport(f"adb:{adbd.serial}") as dev:
        assert isinstance(dev, AdbTransport)
        info = dev.describe()
    assert info.kind == "adb" and info.name == adbd.serial
    assert info.model == "Edgebert Test Server" and info.os == "Android 14 (API 34)"
    assert info.abi == os.uname().machine and info.cores == os.cpu_count()
    assert info.emulated and "EMULATED" in info.where  # ro.kernel.qemu=1: never mistaken for a phone
    assert info.thermal["temperature_c"] == 31.2 and info.thermal["thermal_status_name"] == "none"
    assert info.extra["big_cores"] == [1]


def test_push_run_pull_roundtrip(adbd, tmp_path):
    payload = os.urandom(700_000)  # several WRTE packets and sync DATA chunks
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    with AdbTransport(adbd.serial) as dev:
        wd = dev.workdir()
        assert wd.startswith("/data/local/tmp/edgebert-") and _host(adbd, wd).is_dir()
        dev.push(src, f"{wd}/blob.bin")
        assert _host(adbd, f"{wd}/blob.bin").read_bytes() == payload
        res = dev.run(["sh", "-c", f"cat {wd}/blob.bin {wd}/blob.bin > {wd}/twice.bin && wc -c < {wd}/twice.bin"],
                      timeout=30)
        assert res.returncode == 0 and res.stdout.strip() == str(2 * len(payload))
        dev.pull(f"{wd}/twice.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == payload * 2
        with pytest.raises(DeviceError, match="adb pull"):
            dev.pull(f"{wd}/missing", tmp_path / "nope")
    assert not _host(adbd, wd).exists() and dev.leftover is None


def test_exit_codes_and_streams(adbd):
    with AdbTransport(adbd.serial) as dev:
        res = dev.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30)
        assert (res.returncode, res.stdout, res.stderr) == (7, "out\n", "err\n")
        assert dev.run(["true"], timeout=30).returncode == 0
        assert dev.run(["sh", "-c", "kill -9 $$"], timeout=30).returncode == 137  # killed by a signal
        quoted = dev.run(["echo", "a b", "$HOME", "it's"], timeout=30)
        assert quoted.stdout == "a b $HOME it's\n"


def test_timeout_kills_the_command(adbd):
    with AdbTransport(adbd.serial) as dev:
        wd = dev.workdir()
        script = _host(adbd, f"{wd}/spin.sh")
        script.write_text("#!/bin/sh\nsleep 30\n")
        script.chmod(0o755)
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout, match="ran past 1 s"):
            dev.run([f"{wd}/spin.sh"], timeout=1)
        assert time.monotonic() - t0 < 15
        deadline = time.monotonic() + 10
        while any(str(script) in _cmdline(p) for p in os.listdir("/proc") if p.isdigit()):
            assert time.monotonic() < deadline, "the timed-out command is still running"
            time.sleep(0.2)
        assert dev.run(["echo", "still usable"], timeout=30).stdout == "still usable\n"


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_device_killed_mid_run_is_one_line_and_cleanup_does_not_raise(adbd, tmp_path):
    dev = AdbTransport(adbd.serial)
    wd = dev.workdir()
    threading.Timer(1.0, adbd.kill).start()
    t0 = time.monotonic()
    with pytest.raises(DeviceGone) as err:
        dev.run(["sleep", "20"], timeout=60)
    assert time.monotonic() - t0 < 15
    line = err.value.one_line()
    assert "\n" not in line and adbd.serial in line and "gone" in line
    with pytest.raises(DeviceGone):
        (tmp_path / "f").write_text("x")
        dev.push(tmp_path / "f", f"{wd}/f")
    dev.cleanup()  # must not raise
    assert dev.leftover == wd


def test_thermal_and_cooldown(adbd):
    with AdbTransport(adbd.serial) as dev:
        (adbd.root / "battery_temperature").write_text("452")
        (adbd.root / "thermal_status").write_text("2")
        th = dev.thermal()
        assert th["temperature_c"] == 45.2 and th["thermal_status"] == 2 and th["thermal_status_name"] == "moderate"
        assert th["zones"] == {"cpu0": 36.5, "battery": 31.2}
        miss = dev.cooldown(40.0, timeout_s=1.5, poll_s=0.3)
        assert not miss["reached"] and miss["waited_s"] >= 1.4 and miss["temperature_c"] == 45.2
        threading.Timer(0.8, lambda: (adbd.root / "battery_temperature").write_text("355")).start()
        hit = dev.cooldown(40.0, timeout_s=20, poll_s=0.3)
        assert hit["reached"] and hit["temperature_c"] == 35.5 and hit["waited_s"] < 10


def test_pin_to_big_cores(adbd):
    with AdbTransport(adbd.serial) as dev:
        big = dev.big_cores()
        assert big == [1]  # the test server's cpufreq tree makes cpu1 the fast core
        assert dev.pin_prefix(big) == ["taskset", "2"]
        # its commands run on this host, which may lack a cpu1 (1-core CI runner): pin for real to
        # the highest core this process may use, whose mask has the most hex digits
        core = max(os.sched_getaffinity(0))
        res = dev.run(dev.pin_prefix([core]) + ["grep", "Cpus_allowed_list", "/proc/self/status"], timeout=30)
        assert res.returncode == 0 and res.stdout.split()[-1] == str(core), res.stdout + res.stderr
        assert dev.pin_prefix([]) is None


def test_no_device_is_one_line(monkeypatch, adb_server_port):
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        empty_port = str(s.getsockname()[1])
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", empty_port)  # a fresh adb server with nothing attached
    try:
        with pytest.raises(DeviceError) as err:
            get_transport("adb")
        assert err.value.one_line().startswith("no adb device connected (")
    finally:
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=30)


def test_parsers_on_real_phone_text():
    devices = parse_devices("* daemon started successfully\nList of devices attached\n"
                            "R58M123ABC  device usb:1-1 product:beyond1 model:SM_G973F device:beyond1 transport_id:3\n"
                            "emulator-5554  offline\n0123456789  unauthorized usb:1-2 transport_id:4\n\n")
    assert [(d["serial"], d["state"]) for d in devices] == [("R58M123ABC", "device"), ("emulator-5554", "offline"),
                                                          ("0123456789", "unauthorized")]
    assert devices[0]["model"] == "SM_G973F"
    pixel = ("Current Battery Service state:\n  AC powered: false\n  USB powered: true\n  level: 64\n"
             "  temperature: 287\n  technology: Li-ion\n@@thermalservice\nIsStatusOverride: false\n"
             "ThermalEventListeners:\n\tcallbacks: 2\nThermal Status: 1\nCached temperatures:\n"
             "\tTemperature{mValue=28.7, mType=2, mName=battery, mStatus=0}\nHAL Ready: true\n"
             "Current temperatures from HAL:\n\tTemperature{mValue=41.2, mType=0, mName=BIG, mStatus=1}\n"
             "\tTemperature{mValue=38.9, mType=0, mName=LITTLE, mStatus=0}\n"
             "Current cooling devices from HAL:\n\tCoolingDevice{mValue=0, mType=2, mName=cpu0}\n")
    th = parse_thermal(pixel)
    assert th == {"battery_temperature_c": 28.7, "temperature_c": 28.7, "battery_level": 64, "thermal_status": 1,
                  "thermal_status_name": "light", "zones": {"BIG": 41.2, "LITTLE": 38.9}}
    assert parse_thermal("") == {} and parse_thermal("garbage\n@@thermalservice\nPermission Denial") == {}


@pytest.mark.skipif(not os.environ.get("EDGEBERT_ADB_SERIAL"),
                    reason="real phone: set EDGEBERT_ADB_SERIAL=<serial from `adb devices`>")
def test_real_phone(tmp_path):
    serial = os.environ["EDGEBERT_ADB_SERIAL"]
    (tmp_path / "hello.txt").write_text("hello phone\n")
    with get_transport(f"adb:{serial}") as dev:
        info = dev.describe()
        assert info.os.startswith("Android") and info.cores and not info.emulated
        wd = dev.workdir()
        dev.push(tmp_path / "hello.txt", f"{wd}/hello.txt")
        res = dev.run(["cat", f"{wd}/hello.txt"], timeout=30)
        assert res.stdout == "hello phone\n"
        assert dev.run(["sh", "-c", "exit 5"], timeout=30).returncode == 5
        dev.pull(f"{wd}/hello.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "hello phone\n"
        assert "temperature_c" in dev.thermal()
    assert dev.leftover is None


@pytest.mark.skipif(not (os.environ.get("EDGEBERT_ADB_SERIAL") and os.environ.get("EDGEBERT_PTE_RUNNER")),
                    reason="real phone: set EDGEBERT_ADB_SERIAL and EDGEBERT_PTE_RUNNER (an NDK build, "
                           "see devices/native/README.md)")
def test_real_phone_native_runner(tiny_ptes):
    """The NDK-built runner on the phone computes the logits executorch.runtime computes here."""
    import numpy as np
    from executorch.runtime import Runtime

    from edgebert.devices import RunnerResult
    from edgebert.devices.native import NativeRunner, native_runner

    paths, batches = tiny_ptes
    runner = native_runner(android=True)
    batch = batches[1]
    keys = ("input_ids", "attention_mask", "token_type_ids")
    with get_transport(f"adb:{os.environ['EDGEBERT_ADB_SERIAL']}") as dev:
        wd = dev.workdir()
        dev.push(runner.binary, f"{wd}/pte_runner")
        dev.run(["chmod", "755", f"{wd}/pte_runner"], timeout=30)
        for name in ("portable", "xnnpack"):
            dev.push(paths[name], f"{wd}/{name}.pte")
            argv = dev.pin_prefix(dev.big_cores()) or []
            argv += NativeRunner.argv(f"{wd}/pte_runner", f"{wd}/{name}.pte", *(batch[k][0].tolist() for k in keys),
                                      warmup=3, runs=20, min_seconds=1.0)
            res = dev.run(argv, timeout=300)
            assert res.returncode == 0, res.stderr[-2000:]
            out = RunnerResult.parse(res.stdout)
            ref = Runtime.get().load_program(str(paths[name])).load_method("forward").execute(
                [batch[k] for k in keys])[0].numpy()
            assert np.abs(np.asarray(out.outputs, dtype=np.float32) - ref).max() <= 1e-5


def test_bench_over_adb_end_to_end(adbd, pte_runner_build, tiny_bundles, quick, tmp_path, monkeypatch):
    """The harness's adb path: describe, push, native .pte runner pinned to the big core, thermal
    readings and cool-down, pull nothing back but JSON, device left clean. The runner is the host
    build (the test server runs commands on this host); on a phone it is the NDK build."""
    from edgebert.devices.bench import run_bench

    monkeypatch.setenv("EDGEBERT_PTE_RUNNER", str(pte_runner_build.binary))
    quick.pin_cores, quick.cooldown_temp, quick.cooldown_poll_seconds = True, 40.0, 0.2
    report = run_bench([tiny_bundles["executorch-fp32"]], f"adb:{adbd.serial}", quick, tmp_path / "bench",
                       progress_enabled=False)
    assert report.complete and report.error is None and report.leftover is None
    assert report.device["kind"] == "adb" and report.device["emulated"] and "Android 14" in report.device["os"]
    (m,) = report.measurements
    assert (m.runner, m.status) == ("native", "measured") and m.sanity["passed"], m.sanity
    assert "XNNPACK" in m.result["runtime"] and m.pinned_cores == [1]
    assert m.thermal_before["temperature_c"] == 31.2 and m.cooldown["temperature_c"] == 31.2
    assert list((adbd.root / "data/local/tmp").iterdir()) == []  # device left clean


def test_bench_device_unplugged_mid_run(adbd, pte_runner_build, tiny_bundles, quick, tmp_path, monkeypatch):
    from edgebert.devices.bench import run_bench

    monkeypatch.setenv("EDGEBERT_PTE_RUNNER", str(pte_runner_build.binary))
    quick.runs, quick.min_seconds = 1, 8.0  # still running when the device goes
    threading.Timer(4.0, adbd.kill).start()
    t0 = time.monotonic()
    with pytest.raises(DeviceGone) as err:
        run_bench([tiny_bundles["executorch-fp32"]], f"adb:{adbd.serial}", quick, tmp_path / "bench",
                  progress_enabled=False)
    line = err.value.one_line()
    assert "\n" not in line and adbd.serial in line and "partial report" in line and "could not remove" in line
    assert time.monotonic() - t0 < 60
    doc = __import__("json").loads((tmp_path / "bench" / "bench.json").read_text())
    assert doc["complete"] is False and doc["measurements"][0]["status"] == "failed"
