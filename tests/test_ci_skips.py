"""The repo-root conftest.py: in CI a skip fails unless the test is allow-listed as opt-in."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TESTS = {
    "test_plain": "import pytest\n\ndef test_it():\n    pytest.skip('no tool here')\n",
    "test_skipif": "import pytest\n\n@pytest.mark.skipif(True, reason='never here')\ndef test_it():\n    pass\n",
    "test_missing_import": "import pytest\n\ndef test_it():\n    pytest.importorskip('surely_not_a_module_xyz')\n",
    "test_module_skip": "import pytest\n\npytest.skip('whole module gone', allow_module_level=True)\n\n"
                        "def test_it():\n    pass\n",
    "test_module_importorskip": "import pytest\n\npytest.importorskip('surely_not_a_module_xyz')\n\n"
                                "def test_it():\n    pass\n",
    "test_xfail": "import pytest\n\n@pytest.mark.xfail(reason='known bug')\ndef test_it():\n    assert False\n",
    "test_opt_in": "import pytest\n\n@pytest.mark.parametrize('n', [1, 2])\ndef test_phone(n):\n"
                   "    pytest.skip('no phone attached')\n\ndef test_phone_other():\n    pytest.skip('not opt-in')\n",
}


@pytest.fixture
def project(pytester):
    """The real conftest.py plus one allow-list entry for the fake opt-in test."""
    pytester.makeconftest(ROOT_CONFTEST.read_text()
                          + '\nALLOWED_SKIPS["test_opt_in.py::test_phone"] = "opt-in: a real phone"\n')
    return pytester


TEST_LEVEL = {"test_plain": "no tool here", "test_skipif": "never here",
              "test_missing_import": "surely_not_a_module_xyz"}
MODULE_LEVEL = ["test_module_skip", "test_module_importorskip"]


def run(project, monkeypatch, ci: str | None, *names: str):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    project.makepyfile(**{name: TESTS[name] for name in names})
    return project.runpytest("-p", "no:cacheprovider", "--import-mode=importlib", *(f"{n}.py" for n in names))


def test_test_level_skips_fail_in_ci(project, monkeypatch):
    res = run(project, monkeypatch, "1", *TEST_LEVEL, "test_xfail")
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = res.parseoutcomes()
    # pytest.skip in a test body fails the call; a skipif mark fails the setup (an error)
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 3 and "skipped" not in outcomes
    assert outcomes["xfailed"] == 1  # an xfail is reported as skipped internally: left alone
    for reason in TEST_LEVEL.values():
        res.stdout.fnmatch_lines([f"*skipped in CI: *{reason}* (add it to the allow-list in conftest.py only if it "
                                  "is an opt-in test)*"])


def test_module_level_skips_fail_in_ci(project, monkeypatch):
    res = run(project, monkeypatch, "1", *MODULE_LEVEL)
    assert res.ret == pytest.ExitCode.INTERRUPTED  # collection errors
    for name in MODULE_LEVEL:
        res.stdout.fnmatch_lines([f"*ERROR collecting {name}.py*", "*skipped in CI: *"])
    assert res.parseoutcomes() == {"errors": 2}


@pytest.mark.parametrize("ci", [None, "", "0"])
def test_without_ci_skips_stay_skips(project, monkeypatch, ci):
    res = run(project, monkeypatch, ci, *TEST_LEVEL, *MODULE_LEVEL)
    assert res.ret == pytest.ExitCode.OK
    assert res.parseoutcomes() == {"skipped": 5}
    assert "skipped in CI" not in res.stdout.str() and "allow-listed" not in res.stdout.str()


def test_allow_listed_skips_pass_and_are_listed(project, monkeypatch):
    res = run(project, monkeypatch, "true", "test_opt_in")
    res.assert_outcomes(skipped=2, failed=1)  # test_phone_other is not on the list
    res.stdout.fnmatch_lines(["*allow-listed skips in CI (opt-in tests)*",
                              "test_opt_in.py::test_phone[[]1[]]: no phone attached",
                              "test_opt_in.py::test_phone[[]2[]]: no phone attached"])
    assert "test_phone_other: " not in res.stdout.str()
