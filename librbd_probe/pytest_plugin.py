"""pytest plugin: run a downstream test only where the host's librbd can do what it needs.

Registered as the ``pytest11`` entry point ``librbd_probe`` (or load it with
``-p librbd_probe.pytest_plugin``)::

    @pytest.mark.librbd(requires=["create.options", "feature.journaling"])
    def test_journaled_image(...): ...           # skipped, with the reason, when lacking

    @pytest.mark.librbd(requires=["clone.by-id"], xfail=True)
    def test_clone_by_id(...): ...               # run and expected to fail when lacking

Importing this module imports nothing but pytest and the package's bare ``__init__``; the
host is scanned once per session (per root/library), the first time a marked test runs.
``unknown`` never passes.  Options: ``--librbd-probe-root DIR``, ``--librbd-probe-librbd PATH``,
``--librbd-probe-no-runtime``.  The ``librbd_report`` fixture gives the Report itself.
"""
import pytest

MARKER = "librbd"
_CACHE_ATTR = "_librbd_probe_reports"


def pytest_addoption(parser):
    group = parser.getgroup("librbd_probe", "librbd_probe: skip tests the host's librbd cannot run")
    group.addoption("--librbd-probe-root", metavar="DIR", default=None,
                    help="scan this build root / unpacked packages instead of the host (static)")
    group.addoption("--librbd-probe-librbd", metavar="PATH", default=None,
                    help="scan this librbd file instead of the loader's choice")
    group.addoption("--librbd-probe-no-runtime", action="store_true", default=False,
                    help="never load the library; decide from its ELF file only")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "librbd(requires=[capability, ...], xfail=False, strict=False): skip the test (or, with "
        "xfail=True, expect it to fail) unless the host's librbd has every capability "
        "(librbd_probe ids such as create.options, feature.journaling; unknown never passes)")


def _options(config):
    return (config.getoption("librbd_probe_root"), config.getoption("librbd_probe_librbd"),
            not config.getoption("librbd_probe_no_runtime"))


def _report(config):
    """The session's scan for the configured root/library (made once, on first use)."""
    cache = getattr(config, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(config, _CACHE_ATTR, cache)
    key = _options(config)
    if key not in cache:
        import librbd_probe
        root, librbd, runtime = key
        try:
            cache[key] = librbd_probe.capabilities(librbd=librbd, root=root, runtime=runtime and root is None)
        except librbd_probe.ProbeError as exc:
            cache[key] = exc
    return cache[key]


def _requirements(marker):
    requires = marker.kwargs.get("requires", ())
    if isinstance(requires, str):
        requires = [requires]
    return list(marker.args) + list(requires)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    markers = list(item.iter_markers(name=MARKER))
    if not markers:
        return
    from librbd_probe import UsageError
    from librbd_probe.gate import check_known, unmet
    for marker in markers:
        required = _requirements(marker)
        try:
            check_known(required)
        except UsageError as exc:
            pytest.fail("@pytest.mark.librbd: {}".format(exc), pytrace=False)
        if not required:
            pytest.fail("@pytest.mark.librbd needs requires=[capability, ...]", pytrace=False)
        report = _report(item.config)
        if isinstance(report, Exception):
            reason = "librbd_probe could not scan: {} (unknown never passes)".format(report)
        else:
            caps = {c.id: {"status": c.status, "reason": c.reason} for c in report.capabilities}
            failures = unmet(caps, required)
            if not failures:
                continue
            librbd = report.libraries.get("librbd")
            where = librbd.realpath if librbd is not None and librbd.found else "no librbd found"
            reason = "librbd_probe: {} [{}]".format("; ".join(
                "{} is {}{}".format(cap_id, status, ": " + text if text else "")
                for cap_id, status, text in failures), where)
        if marker.kwargs.get("xfail"):
            item.add_marker(pytest.mark.xfail(reason=reason, strict=bool(marker.kwargs.get("strict"))))
        else:
            _skip(reason)


def _skip(reason):
    """Skip reported at the test's own location, as a skip marker would be (pytest >= 7.0;
    older ones report this line instead)."""
    try:
        error = pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:
        pytest.skip(reason)
    raise error


@pytest.fixture(scope="session")
def librbd_report(request):
    """The librbd_probe Report of the host (or --librbd-probe-root), made once per session."""
    report = _report(request.config)
    if isinstance(report, Exception):
        pytest.skip("librbd_probe could not scan: {}".format(report))
    return report
