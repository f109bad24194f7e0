"""Android phones over the real ``adb`` client (USB or ``adb connect HOST:PORT``).

Everything goes through the ``adb`` binary the user already has, so whatever works in their
terminal works here. Exit codes come back through adb's shell protocol v2 (Android 7+). A
device that drops off mid-run is told apart from a failing command by asking
``adb get-state`` after any failure, and reported as one :class:`DeviceGone` line.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from typing import Callable
from pathlib import Path

from .. import register_transport
from ..base import CommandResult, DeviceError, DeviceGone, DeviceInfo, DeviceTimeout, Transport
from ..sysinfo import big_cores as parse_big_cores
from ..sysinfo import sections as _sections

ADB_HOWTO = "install Android platform-tools (Debian/Ubuntu: apt-get install adb) or set EDGEBERT_ADB=/path/to/adb"
GONE_HINT = "reconnect it (USB cable, `adb connect HOST:PORT`) and rerun; results measured so far are kept"
THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency", 6: "shutdown"}

_DESCRIBE = r"""
for p in ro.product.manufacturer ro.product.model ro.build.version.release ro.build.version.sdk ro.product.cpu.abi ro.kernel.qemu ro.boot.qemu ro.soc.model; do echo "@@$p"; getprop "$p"; done
echo @@nproc; nproc 2>/dev/null || ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l
echo @@freq; for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do [ -r "$f" ] && echo "$f $(cat "$f")"; done
echo @@end
"""
_EXIT_MARK = "@@edgebert-exit:"
_EXIT_RE = re.compile(re.escape(_EXIT_MARK) + r"(\d+)\r?\n?\Z")
_THERMAL = "dumpsys battery 2>/dev/null; echo @@thermalservice; dumpsys thermalservice 2>/dev/null | head -n 80"


def adb_binary() -> str:
    path = os.environ.get("EDGEBERT_ADB") or shutil.which("adb")
    if not path:
        raise DeviceError("adb not found", ADB_HOWTO)
    return path


def parse_devices(text: str) -> list[dict]:
    """``adb devices -l`` -> [{serial, state, model, ...}], skipping the banner and daemon chatter."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(("List of devices", "*", "adb ")):
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        info = {"serial": parts[0], "state": parts[1]}
        info.update(kv.split(":", 1) for kv in parts[2:] if ":" in kv)
        out.append(info)
    return out


def parse_thermal(text: str) -> dict:
    """``dumpsys battery`` + ``dumpsys thermalservice`` -> temperatures in °C and thermal status.

    Parsed defensively: any field may be missing (old Android, OEM builds, no permission).
    ``temperature_c`` (what cool-down waits on) is the battery temperature, as phones report it.
    """
    battery, _, thermal = text.partition("@@thermalservice")
    out: dict = {}
    m = re.search(r"^\s*temperature:\s*(-?\d+)\s*$", battery, re.M)
    if m:
        out["battery_temperature_c"] = int(m.group(1)) / 10.0  # tenths of a degree
        out["temperature_c"] = out["battery_temperature_c"]
    m = re.search(r"^\s*level:\s*(\d+)", battery, re.M)
    if m:
        out["battery_level"] = int(m.group(1))
    m = re.search(r"Thermal Status:\s*(\d+)", thermal)
    if m:
        out["thermal_status"] = int(m.group(1))
        out["thermal_status_name"] = THERMAL_STATUS.get(int(m.group(1)), "unknown")
    hal = thermal.split("Current temperatures from HAL:", 1)[1] if "temperatures from HAL:" in thermal else ""
    hal = re.split(r"\n(?=\S)", hal.lstrip("\n"), maxsplit=1)[0]  # up to the next section header
    zones = {n: float(v) for v, n in
             re.findall(r"Temperature\{mValue=(-?[\d.]+),\s*mType=-?\d+,\s*mName=([^,}]+)", hal)}
    if zones:
        out["zones"] = zones
        if "temperature_c" not in out:
            out["temperature_c"] = max(zones.values())
    return out


@register_transport
class AdbTransport(Transport):
    kind = "adb"

    def __init__(self, serial: str | None = None, *, base_dir: str = "/data/local/tmp"):
        self.adb = adb_binary()
        self.serial = serial or self._only_device()
        self.base_dir = base_dir
        self._dir: str | None = None
        self._leftover: str | None = None

    @classmethod
    def accepts(cls, spec: str) -> bool:
        return spec == "adb" or spec.startswith("adb:")

    @classmethod
    def from_spec(cls, spec: str) -> "AdbTransport":
        serial = spec.partition(":")[2] or None
        return cls(serial)

    @classmethod
    def discover(cls) -> list[str]:
        try:
            proc = subprocess.run([adb_binary(), "devices", "-l"], capture_output=True, text=True, timeout=30)
        except (DeviceError, OSError, subprocess.TimeoutExpired):
            return []
        return [f"adb:{d['serial']}" for d in parse_devices(proc.stdout) if d["state"] == "device"]

    def _only_device(self) -> str:
        specs = self.discover()
        if not specs:
            raise DeviceError("no adb device connected",
                              "enable USB debugging and plug the phone in, or `adb connect HOST:PORT`; `adb devices` lists them")
        if len(specs) > 1:
            raise DeviceError(f"{len(specs)} adb devices connected ({', '.join(s[4:] for s in specs)})",
                              "pick one with --device adb:SERIAL")
        return specs[0][4:]

    # ---- the phone's browser (edgebert demo --adb)
    def _checked(self, *args: str, check: bool = True) -> None:
        proc = self._adb(list(args), timeout=30)
        # `am start` reports some failures (no browser, bad intent) on stdout with exit status 0
        if check and (proc.returncode != 0 or "Error:" in proc.stdout):
            lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
            raise DeviceError(f"adb {' '.join(args[:2])} failed on {self.serial}: "
                              f"{lines[-1].strip() if lines else f'exit {proc.returncode}'}",
                              "check `adb devices` lists the phone as 'device'")

    def reverse(self, port: int) -> Callable[[], None]:
        """``adb reverse tcp:P tcp:P``: the phone's localhost:P reaches this machine's port P (a
        secure context, unlike a LAN address). Returns the undo, which never raises."""
        self._checked("reverse", f"tcp:{port}", f"tcp:{port}")

        def undo() -> None:
            try:
                self._checked("reverse", "--remove", f"tcp:{port}", check=False)
            except Exception:  # the phone was unplugged meanwhile: nothing left to undo
                pass

        return undo

    def open_url(self, url: str) -> None:
        """Open ``url`` in the phone's default browser."""
        self._checked("shell", "am", "start", "-a", "android.intent.action.VIEW", "-d", url)

    # ---- plumbing
    def _adb(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.adb, "-s", self.serial, *args], capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self._check_alive()
            raise DeviceTimeout(f"adb {args[0]} on {self.serial} ran past {timeout:.0f} s",
                                "raise --timeout or lower --runs/--min-seconds") from None
        except OSError as exc:
            raise DeviceError(f"cannot run adb: {exc.strerror}", ADB_HOWTO) from None

    def state(self) -> str:
        """``device`` when usable; otherwise adb's word for it (offline, unauthorized, not found...)."""
        try:
            proc = subprocess.run([self.adb, "-s", self.serial, "get-state"], capture_output=True, text=True,
                                  timeout=10, stdin=subprocess.DEVNULL)
        except (subprocess.TimeoutExpired, OSError):
            return "unresponsive"
        if proc.returncode == 0:
            return proc.stdout.strip() or "unknown"
        err = (proc.stderr or proc.stdout).strip().splitlines()
        return err[-1].removeprefix("error: ") if err else "not found"

    def _check_alive(self) -> None:
        state = self.state()
        if state != "device":
            raise DeviceGone(f"adb device {self.serial} is gone ({state})", GONE_HINT)

    def _fail(self, what: str, proc: subprocess.CompletedProcess) -> DeviceError:
        self._check_alive()
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return DeviceError(f"{what} failed on {self.serial}: {lines[-1] if lines else f'exit {proc.returncode}'}")

    # ---- Transport
    def describe(self) -> DeviceInfo:
        res = self.run(["sh", "-c", _DESCRIBE], timeout=60)
        s = _sections(res.stdout)
        maker, model = s.get("ro.product.manufacturer", ""), s.get("ro.product.model", "") or "unknown Android device"
        if maker and maker.lower() not in model.lower():
            model = f"{maker} {model}"
        release, sdk = s.get("ro.build.version.release", "?"), s.get("ro.build.version.sdk", "?")
        cores = s.get("nproc", "").split()
        emulated = "1" in (s.get("ro.kernel.qemu"), s.get("ro.boot.qemu"))
        return DeviceInfo(kind="adb", name=self.serial, model=model, os=f"Android {release} (API {sdk})",
                          abi=s.get("ro.product.cpu.abi") or "unknown", cores=int(cores[0]) if cores and
                          cores[0].isdigit() else None, emulated=emulated, thermal=self.thermal(),
                          extra={"big_cores": parse_big_cores(s.get("freq", "")), "soc": s.get("ro.soc.model", "")})

    def workdir(self) -> str:
        if self._dir is None:
            path = f"{self.base_dir.rstrip('/')}/edgebert-{secrets.token_hex(4)}"
            res = self.run(["mkdir", "-p", path], timeout=30)
            if res.returncode != 0:
                raise DeviceError(f"cannot create {path} on {self.serial}: {res.stderr.strip() or res.stdout.strip()}")
            self._dir = path
        return self._dir

    def push(self, local: Path, remote: str) -> None:
        size = Path(local).stat().st_size if Path(local).is_file() else 0
        proc = self._adb(["push", str(local), remote], timeout=120 + size / 2e6)  # >= 2 MB/s
        if proc.returncode != 0:
            raise self._fail(f"adb push {Path(local).name}", proc)

    def pull(self, remote: str, local: Path) -> None:
        proc = self._adb(["pull", remote, str(local)], timeout=600)
        if proc.returncode != 0:
            raise self._fail(f"adb pull {remote}", proc)

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        """The exit status also travels as a marker on stderr: adb 1.0.41 exits 0 when the
        connection drops mid-command, so a missing marker is how a vanished device shows."""
        t0 = time.perf_counter()
        try:
            proc = self._adb(["shell", f"{self.quote(argv)}; echo {_EXIT_MARK}$? >&2"], timeout=timeout)
        except DeviceTimeout:
            self._kill_leftovers()
            raise
        out, err, code = proc.stdout, proc.stderr, None
        for name in ("err", "out"):  # stderr with shell v2; merged into stdout on pre-v2 devices
            text = err if name == "err" else out
            m = _EXIT_RE.search(text)
            if m:
                code = int(m.group(1))
                text = text[:m.start()]
                err, out = (text, out) if name == "err" else (err, text)
                break
        if code is None:
            self._check_alive()
            raise DeviceGone(f"connection to adb device {self.serial} dropped mid-command", GONE_HINT)
        return CommandResult(code, out, err, time.perf_counter() - t0)

    def _kill_leftovers(self) -> None:
        """adbd hangs up the shell when the client dies; also kill what still runs from our folder."""
        if self._dir:
            base, _, name = self._dir.rpartition("/")
            pattern = f"{base}/[{name[0]}]{name[1:]}/"  # the bracket keeps pkill's own shell from matching
            try:
                subprocess.run([self.adb, "-s", self.serial, "shell", f"pkill -9 -f {self.quote([pattern])}"],
                               capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
            except (subprocess.TimeoutExpired, OSError):
                pass

    def cleanup(self) -> None:
        if self._dir is None:
            return
        path, self._dir = self._dir, None
        try:
            proc = subprocess.run([self.adb, "-s", self.serial, "shell", f"rm -rf {self.quote([path])}"],
                                  capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            ok = proc.returncode == 0
        except (subprocess.TimeoutExpired, OSError):
            ok = False
        self._leftover = None if ok else path

    @property
    def leftover(self) -> str | None:
        return self._leftover

    # ---- optional hooks (names shared with the harness via devices/base.py)
    def python_command(self) -> list[str] | None:
        return None  # stock Android has no Python; Termux phones are reached over ssh

    def thermal(self) -> dict:
        try:
            res = self.run(["sh", "-c", _THERMAL], timeout=30)
        except DeviceTimeout:
            return {}
        return parse_thermal(res.stdout)

    def big_cores(self) -> list[int]:
        res = self.run(["sh", "-c", _DESCRIBE], timeout=60)
        return parse_big_cores(_sections(res.stdout).get("freq", ""))

    def pin_prefix(self, cores: list[int]) -> list[str] | None:
        """toybox ``taskset MASK`` (Android 6+)."""
        return ["taskset", format(sum(1 << c for c in cores), "x")] if cores else None

    def cooldown(self, max_temp_c: float, timeout_s: float, poll_s: float = 5.0) -> dict:
        """Wait until the battery is at or below ``max_temp_c``; never raises on timeout."""
        t0 = time.monotonic()
        while True:
            temp = self.thermal().get("temperature_c")
            waited = time.monotonic() - t0
            if temp is None or temp <= max_temp_c or waited >= timeout_s:
                return {"temperature_c": temp, "waited_s": round(waited, 1),
                        "reached": temp is not None and temp <= max_temp_c}
            time.sleep(min(poll_s, max(0.0, timeout_s - waited)))
