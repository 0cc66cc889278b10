"""The pytest plugin, run through pytest's own ``pytester`` on real scans: the installed
librbd 16.2.15 (which lacks rbd_clone4, so clone.by-id is ``no``) and unpacked Debian trees."""
import os
import re
import sys

import pytest

import corpus
from conftest import PROJECT

pytest_plugins = ["pytester"]

# Loaded by module name, with the entry-point name blocked: where the package is installed
# (tox) the pytest11 entry point would register the same module a second time.
PLUGIN = ("-p", "no:librbd_probe", "-p", "librbd_probe.pytest_plugin")

TESTS = """
import pytest

@pytest.mark.librbd(requires=["create.options"])
def test_has_options():
    pass

@pytest.mark.librbd(requires=["clone.by-id"])
def test_needs_clone4():
    raise AssertionError("must not run on a librbd without rbd_clone4")

@pytest.mark.librbd(requires=["clone.by-id"], xfail=True)
def test_xfail_mode():
    raise RuntimeError("rbd_clone4 missing")

@pytest.mark.librbd(requires=["clone.by-id"], xfail=True, strict=True)
def test_xfail_strict_but_passes():
    pass

def test_unmarked(librbd_report):
    assert librbd_report.capability("create.format2").status == "yes"
"""


@pytest.fixture
def project_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if PROJECT not in sys.path:
        sys.path.insert(0, PROJECT)


def test_marker_on_the_installed_library(pytester, installed, project_path):
    pytester.makepyfile(test_downstream=TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "-rsxX", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, skipped=1, xfailed=1, failed=1)
    text = result.stdout.str()
    # the skip carries the report's reason and the library it is about
    skipped = [line for line in text.splitlines() if line.startswith("SKIPPED [1] ")]
    # reported at the test's own place (pytest >= 7.0), not inside the plugin
    assert len(skipped) == 1 and re.match(r"SKIPPED \[1\] test_downstream.py:\d+: ", skipped[0])
    assert skipped[0].endswith(
        ": librbd_probe: clone.by-id is no: librbd.so.1 does not export rbd_clone4 "
        "[/usr/lib/x86_64-linux-gnu/librbd.so.1.16.0]")
    # pytest 7.0 (the Python 3.6 floor) puts the reason on the next line, later ones after " - "
    assert re.search(r"XFAIL test_downstream.py::test_xfail_mode(\s+| - )librbd_probe: clone.by-id is no", text)
    assert "[XPASS(strict)] librbd_probe: clone.by-id is no" in text


def test_marker_against_a_build_root(pytester, project_path):
    pytester.makepyfile(test_downstream=TESTS)
    result = pytester.runpytest_subprocess(*PLUGIN, "--librbd-probe-root", corpus.release_root("20.2.4"),
                                           "-p", "no:cacheprovider")
    # 20.2.4 exports rbd_clone4: the clone.by-id test runs (and its body fails on purpose), the
    # xfail-mode tests run as plain tests
    result.assert_outcomes(passed=3, failed=2)
    assert "must not run on a librbd without rbd_clone4" in result.stdout.str()


def test_unknown_never_passes_and_bad_ids_are_errors(pytester, tmp_path, project_path):
    pytester.makepyfile(test_downstream="""
import pytest

@pytest.mark.librbd(requires=["create.options"])
def test_needs_options():
    pass

@pytest.mark.librbd(requires=["create.nonsense"])
def test_typo():
    pass
""")
    empty = tmp_path / "empty-root"
    empty.mkdir()
    result = pytester.runpytest_subprocess(*PLUGIN, "--librbd-probe-root", str(empty), "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1, errors=1)
    text = result.stdout.str()
    assert "librbd_probe: create.options is unknown: no librbd found" in text
    assert "@pytest.mark.librbd: unknown capability create.nonsense" in text


def test_importing_the_plugin_is_light_and_probes_only_for_marked_tests(pytester, project_path):
    pytester.makeconftest("""
import sys

def pytest_sessionfinish(session):
    heavy = sorted(m for m in sys.modules if m.startswith("librbd_probe.") and m not in (
        "librbd_probe.pytest_plugin", "librbd_probe.errors", "librbd_probe.gate"))
    with open("modules.txt", "w") as handle:
        handle.write(" ".join(heavy))
""")
    pytester.makepyfile(test_plain="def test_nothing_marked():\n    pass\n")
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "modules.txt").read_text() == ""        # nothing scanned, nothing loaded
    pytester.makepyfile(test_plain="""
import pytest

@pytest.mark.librbd(requires=["create.format2"])
def test_marked():
    pass
""")
    result = pytester.runpytest_subprocess(*PLUGIN, "--librbd-probe-root", corpus.release_root("18.2.7"),
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "librbd_probe.scan" in (pytester.path / "modules.txt").read_text().split()


def test_marker_is_registered(pytester, project_path):
    result = pytester.runpytest_subprocess(*PLUGIN, "--markers")
    assert "@pytest.mark.librbd(requires=[capability, ...], xfail=False, strict=False)" in result.stdout.str()


def test_entry_point_when_installed(pytester):
    """Where the package is installed (tox, pip install .), pytest finds the plugin by itself."""
    try:
        from importlib import metadata  # novermin (guarded: skipped before 3.8)
    except ImportError:                                  # Python 3.6/3.7
        pytest.skip("importlib.metadata needs Python 3.8")
    # an egg-info that a local build leaves in the checkout is found first on sys.path: look
    # past it for a real installation (tox installs the package into its env)
    installed = [d for d in metadata.distributions()
                 if (d.metadata["Name"] or "").replace("-", "_") == "librbd_probe"
                 and os.path.realpath(str(d.locate_file(""))) != os.path.realpath(PROJECT)]
    if not installed:
        pytest.skip("librbd_probe is not installed in this interpreter (run under tox)")
    dist = installed[0]
    points = [ep for ep in dist.entry_points if ep.group == "pytest11"]
    assert [(ep.name, ep.value) for ep in points] == [("librbd_probe", "librbd_probe.pytest_plugin")]
    result = pytester.runpytest_subprocess("--markers")
    assert "@pytest.mark.librbd(" in result.stdout.str()
