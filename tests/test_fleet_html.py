"""The fleet HTML page, checked in a real headless Chromium (Debian's chromium package).

Chromium loads the page from a file with networking disabled, runs its script, and dumps the
DOM: the stale host's row must be flagged and carry the colour the browser computed from the
page's CSS.  The screenshot is kept as a test artifact under $LIBRBD_PROBE_ARTIFACTS (default
/tmp/librbd_probe_artifacts) for a human to look at.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import fleet_scenario
from conftest import need
from librbd_probe import cli

ARTIFACTS = os.environ.get("LIBRBD_PROBE_ARTIFACTS") or os.path.join(tempfile.gettempdir(), "librbd_probe_artifacts")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
RED = "rgb(239, 83, 80)"          # tr.status-stale td.status in render_fleet's CSS (#ef5350)
GREEN = "rgb(165, 214, 167)"      # tr.status-ok td.status (#a5d6a7)


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    need(path, "chromium not installed (apt-get install chromium; tools/test-all.sh does)")
    return path


def browse(page, *extra, timeout=90):
    profile = tempfile.mkdtemp(prefix="librbd-probe-chromium-")
    try:
        proc = subprocess.run([chromium()] + FLAGS + ["--user-data-dir=" + profile] + list(extra)
                              + ["file://" + page], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet-html")
    reports = fleet_scenario.article_reports(str(base / "reports"))
    computes = fleet_scenario.corpus_reports(str(base / "computes"))
    out = str(base / "fleet.html")
    code = cli.main(["fleet", reports, os.path.dirname(computes["14.2.21"]), "--html", out])
    assert code == 1
    return out


def test_page_is_self_contained(page):
    with open(page) as handle:
        text = handle.read()
    assert "default-src 'none'" in text                    # CSP: the browser may fetch nothing
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", text)   # only in-page anchors
    assert "http://" not in text and "https://" not in text


def test_chromium_renders_the_stale_host_flagged(page):
    dom = browse(page, "--dump-dom", "--virtual-time-budget=3000")
    assert 'data-script="ran"' in dom                     # the inline script ran (CSP allowed it)
    rows = dict(re.findall(r'<tr class="host-row [^"]*" id="host-([^"]+)"[^>]*?data-computed-status-color="([^"]+)"', dom))
    flagged = set(re.findall(r'<tr class="host-row [^"]*flagged[^"]*" id="host-([^"]+)"', dom))
    assert rows["openstack-con02"] == RED and "openstack-con02" in flagged
    assert rows["openstack-con01"] == GREEN and rows["openstack-con03"] == GREEN
    assert "openstack-con01" not in flagged
    assert rows["compute-14-2-21"] == RED                  # 14.2.21 is older than the majority 16.2.15
    assert re.search(r'<body[^>]*data-flagged-count="4"', dom)
    assert "fix: upgrade librbd1/librados2 on openstack-con02 to 16.2.15 (pacific) or later" in dom
    # the capability cells are coloured by status: con02 lacks exclusive-lock
    assert re.search(r'id="host-openstack-con02".*?class="cap cap-no" title="feature.exclusive-lock: no"', dom, re.S)


def test_chromium_screenshot_is_kept(page):
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "fleet.png")
    if os.path.exists(shot):
        os.remove(shot)
    browse(page, "--window-size=1400,900", "--screenshot=" + shot)
    with open(shot, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    shutil.copy(page, os.path.join(ARTIFACTS, "fleet.html"))
