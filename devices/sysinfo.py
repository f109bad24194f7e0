"""Describe a Linux-like device from one POSIX shell probe.

Host and ssh (and adb, whose shell is POSIX too) run the same probe and parse the same
text, so a Raspberry Pi over ssh is described exactly like the machine edgebert runs on.
"""

from __future__ import annotations

import re

# One round trip: sections start with "@@name"; unreadable files just leave a section empty.
PROBE = r"""
echo @@machine; uname -m
echo @@os; cat /etc/os-release 2>/dev/null
echo @@nproc; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
echo @@model; cat /proc/device-tree/model 2>/dev/null | tr -d '\000'; echo
echo @@cpuinfo; cat /proc/cpuinfo 2>/dev/null
echo @@thermal; for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] && echo "$(cat "$z/type" 2>/dev/null) $(cat "$z/temp" 2>/dev/null)"; done
echo @@freq; for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do [ -r "$f" ] && echo "$f $(cat "$f")"; done
echo @@tools; command -v timeout; command -v taskset
echo @@end
"""

X86_VENDORS = ("GenuineIntel", "AuthenticAMD", "HygonGenuine")


def sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("@@"):
            cur = line[2:].strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def os_name(os_release: str, fallback: str) -> str:
    fields = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', os_release, re.M))
    return fields.get("PRETTY_NAME") or fields.get("NAME") or fallback


def cpu_model(cpuinfo: str, board_model: str = "") -> str:
    """The board (device tree) if known, else the CPU name from /proc/cpuinfo."""
    if board_model.strip():
        return board_model.strip()
    for key in ("model name", "Hardware", "Model", "cpu model", "uarch"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
        if m:
            return m.group(1).strip()
    parts = [re.search(rf"^{k}\s*:\s*(.+)$", cpuinfo, re.M) for k in ("CPU implementer", "CPU part")]
    if all(parts):
        return f"ARM CPU (implementer {parts[0].group(1)}, part {parts[1].group(1)})"
    return "unknown CPU"


def emulated(machine: str, cpuinfo: str) -> bool:
    """An ARM userland whose /proc/cpuinfo shows an x86 CPU runs under qemu-user: timings mean nothing."""
    return machine in ("aarch64", "arm64", "armv7l", "armv8l") and any(v in cpuinfo for v in X86_VENDORS)


def thermal(zones_text: str) -> dict:
    """``type millidegrees`` lines -> {zone: °C}; ``temperature_c`` is the hottest zone."""
    zones: dict[str, float] = {}
    for line in zones_text.splitlines():
        parts = line.rsplit(None, 1)
        if len(parts) == 2 and re.fullmatch(r"-?\d+", parts[1]):
            name, value = parts[0] or "zone", int(parts[1])
            key, n = name, 1
            while key in zones:
                n += 1
                key = f"{name}#{n}"
            zones[key] = value / 1000.0 if abs(value) > 200 else float(value)
    return {"zones": zones, "temperature_c": max(zones.values())} if zones else {}


def big_cores(freq_text: str) -> list[int]:
    """CPUs whose max frequency is the highest (the big/prime cluster of a big.LITTLE SoC)."""
    freqs = {}
    for line in freq_text.splitlines():
        m = re.search(r"cpu(\d+)/cpufreq/cpuinfo_max_freq\s+(\d+)", line)
        if m:
            freqs[int(m.group(1))] = int(m.group(2))
    if not freqs:
        return []
    top = max(freqs.values())
    return sorted(c for c, f in freqs.items() if f == top)


def parse_probe(text: str) -> dict:
    s = sections(text)
    machine = s.get("machine", "").splitlines()[0].strip() if s.get("machine") else "unknown"
    nproc = s.get("nproc", "").strip().splitlines()
    tools = {t.rsplit("/", 1)[-1] for t in s.get("tools", "").split()}
    cpuinfo = s.get("cpuinfo", "")
    return {
        "machine": machine,
        "os": os_name(s.get("os", ""), "Linux"),
        "cores": int(nproc[0]) if nproc and nproc[0].isdigit() else None,
        "model": cpu_model(cpuinfo, s.get("model", "")),
        "emulated": emulated(machine, cpuinfo),
        "thermal": thermal(s.get("thermal", "")),
        "big_cores": big_cores(s.get("freq", "")),
        "tools": sorted(tools),
        "complete": "end" in s,
    }
