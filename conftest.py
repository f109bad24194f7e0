"""CI must not skip silently: with ``CI`` set (non-empty, not "0") every skip is a failure,
except the opt-in tests in ALLOWED_SKIPS, which are listed at the end of the session.

A skip in CI means a tool or package the pinned environment promises is missing, and a test
that never runs guards nothing. Without ``CI`` skips behave as usual.
"""

from __future__ import annotations

import os

import pytest

# fixtures shared across test folders (adb protocol test server, native runner builds; tests/ is on the path)
pytest_plugins = ["adb_fixtures", "bundle_fixtures"]

# node id (a file, or a test with or without its [parameters]) -> why it may skip in CI.
# Only opt-in tests belong here: ones that need hardware or an environment CI does not have.
ALLOWED_SKIPS = {
    "tests/devices/test_aarch64.py": "opt-in: `make test-aarch64` (aarch64 executorch libs + qemu-user)",
    "tests/devices/transports/test_adb.py::test_real_phone": "opt-in: a real phone (EDGEBERT_ADB_SERIAL)",
    "tests/devices/transports/test_adb.py::test_real_phone_native_runner":
        "opt-in: a real phone and an NDK-built runner (EDGEBERT_ADB_SERIAL, EDGEBERT_PTE_RUNNER)",
    "tests/exporters/targets/test_coreml.py::test_runner_on_macos": "CoreML models run only on macOS",
}

_ALLOWED_SEEN = pytest.StashKey[list]()


def in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0")


def allowed_reason(nodeid: str) -> str | None:
    for entry, why in ALLOWED_SKIPS.items():
        if nodeid == entry or nodeid.startswith((entry + "::", entry + "[")):
            return why
    return None


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _judge(report, config) -> None:
    """Fail a skipped report in CI unless it is allow-listed (then remember it for the summary)."""
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if allowed_reason(report.nodeid) is not None:
        config.stash.setdefault(_ALLOWED_SEEN, []).append((report.nodeid, reason))
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped in CI: {reason} "
                       "(add it to the allow-list in conftest.py only if it is an opt-in test)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _judge(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Module-level skips (pytest.skip(allow_module_level=True), a module-level importorskip)."""
    report = yield
    _judge(report, collector.config)
    return report


def pytest_terminal_summary(terminalreporter, config):
    seen = config.stash.get(_ALLOWED_SEEN, [])
    if seen:
        terminalreporter.section("allow-listed skips in CI (opt-in tests)")
        for nodeid, reason in seen:
            terminalreporter.line(f"{nodeid}: {reason}")
