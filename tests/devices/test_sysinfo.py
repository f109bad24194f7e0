"""Device descriptions from the shell probe: boards, emulation, thermal zones, big cores."""

from __future__ import annotations

import pytest

from edgebert.devices.sysinfo import big_cores, parse_probe, thermal

PI4 = """@@machine
aarch64
@@os
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
@@nproc
4
@@model
Raspberry Pi 4 Model B Rev 1.4
@@cpuinfo
processor	: 0
BogoMIPS	: 108.00
CPU implementer	: 0x41
CPU part	: 0xd08
@@thermal
cpu-thermal 48199
@@freq
/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 1800000
/sys/devices/system/cpu/cpu1/cpufreq/cpuinfo_max_freq 1800000
@@tools
/usr/bin/timeout
/usr/bin/taskset
@@end
"""


def test_raspberry_pi_probe():
    f = parse_probe(PI4)
    assert f["model"] == "Raspberry Pi 4 Model B Rev 1.4" and f["machine"] == "aarch64" and f["cores"] == 4
    assert f["os"] == "Debian GNU/Linux 12 (bookworm)" and not f["emulated"] and f["complete"]
    assert f["thermal"] == {"zones": {"cpu-thermal": pytest.approx(48.199)}, "temperature_c": pytest.approx(48.199)}
    assert f["big_cores"] == [0, 1] and f["tools"] == ["taskset", "timeout"]


def test_arm_userland_on_an_x86_cpu_is_emulated():
    text = PI4.replace("Raspberry Pi 4 Model B Rev 1.4", "").replace("CPU implementer\t: 0x41",
                                                                   "vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC")
    f = parse_probe(text)
    assert f["emulated"] and f["model"] == "AMD EPYC"


def test_big_little_and_thermal_zones():
    freq = "\n".join(f"/sys/devices/system/cpu/cpu{i}/cpufreq/cpuinfo_max_freq {f}"
                     for i, f in enumerate([1800000] * 4 + [2400000] * 3 + [3000000]))
    assert big_cores(freq) == [7]
    t = thermal("soc 41000\nbattery 33\nsoc 45000\nbroken n/a\n")
    assert t["zones"] == {"soc": 41.0, "battery": 33.0, "soc#2": 45.0} and t["temperature_c"] == 45.0
    assert thermal("") == {} and big_cores("") == []
