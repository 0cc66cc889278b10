"""--prometheus: node_exporter textfile-collector format, judged by the real promtool and the
real node_exporter (Debian's prometheus and prometheus-node-exporter packages).

Reports come from real scans: the installed 16.2.15 (runtime), --root of the unpacked Debian
14.2.21 / 18.2.7 / 20.2.4 (static), the 0.87 stand-in of the article's host, an empty root.
"""
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time
import urllib.request

import pytest

import corpus
import stubs
from conftest import need
from librbd_probe import cli, prometheus
from librbd_probe.errors import UsageError

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _promtool():
    path = shutil.which("promtool")
    need(path is not None, "promtool missing (apt-get install prometheus)")
    return path


def promtool_check(text):
    proc = subprocess.run([_promtool(), "check", "metrics"], input=text.encode("utf-8"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def _unescape(value):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def samples(text):
    """[(name, {labels}, value)] of the sample lines (promtool has already judged the syntax)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = dict((k, _unescape(v)) for k, v in LABEL.findall(match.group(2) or ""))
        out.append((match.group(1), labels, float(match.group(3))))
    return out


def scan(tmp_path, args, capsys):
    """Run the CLI with --json --prometheus; return (exit code, report dict, textfile text, t0, t1)."""
    path = str(tmp_path / "librbd_probe.prom")
    before = time.time()
    code = cli.main(list(args) + ["--json", "--prometheus", path])
    after = time.time()
    report = json.loads(capsys.readouterr().out)
    with open(path) as handle:
        return code, report, handle.read(), before, after


def check_against_report(code, report, text, before, after):
    rc, out = promtool_check(text)
    assert rc == 0, out
    got = samples(text)
    caps = dict((l["capability"], v) for n, l, v in got if n == "librbd_probe_capability")
    assert caps == dict((k, {"yes": 1, "no": 0, "unknown": -1}[c["status"]])
                        for k, c in report["capabilities"].items())
    problems = {}
    for p in report["problems"]:
        problems[(p["id"], p["severity"])] = problems.get((p["id"], p["severity"]), 0) + 1
    assert dict(((l["id"], l["severity"]), v) for n, l, v in got if n == "librbd_probe_problem") == problems
    per_severity = dict((l["severity"], v) for n, l, v in got if n == "librbd_probe_problems")
    assert per_severity == dict((s, sum(1 for p in report["problems"] if p["severity"] == s))
                                for s in ("error", "warning", "info"))
    info = [l for n, l, v in got if n == "librbd_probe_release_info"]
    assert len(info) == 1
    assert info[0]["version"] == (report["release"]["version"] or "")
    if report["release"]["version"]:
        assert info[0]["release"] == report["release"]["version"]
    assert info[0]["mode"] == report["mode"]
    assert [v for n, l, v in got if n == "librbd_probe_exit_code"] == [code]
    stamp = [v for n, l, v in got if n == "librbd_probe_scan_timestamp_seconds"]
    assert len(stamp) == 1 and before - 1 <= stamp[0] <= after + 1
    return got


def test_installed_runtime_scan(tmp_path, capsys, installed):
    code, report, text, t0, t1 = scan(tmp_path, [], capsys)
    assert report["mode"] == "runtime" and report["runtime"]["error"] is None
    got = check_against_report(code, report, text, t0, t1)
    # rbd_version() of the real 16.2.15 library, as the runtime probe asked it
    assert ("librbd_probe_rbd_version_info", {"source": "rbd_version()", "version": "1.16.0"}, 1.0) in got
    assert ("librbd_probe_rados_version_info", {"source": "rados_version()", "version": "3.0.0"}, 1.0) in got
    info = [l for n, l, v in got if n == "librbd_probe_release_info"][0]
    assert info["version"] == "16.2.15" and info["codename"] == "pacific"


@pytest.mark.parametrize("version", corpus.RELEASES)
def test_corpus_static_scans(tmp_path, capsys, version):
    root = corpus.release_root(version)
    code, report, text, t0, t1 = scan(tmp_path, ["--root", root], capsys)
    got = check_against_report(code, report, text, t0, t1)
    info = [l for n, l, v in got if n == "librbd_probe_release_info"][0]
    assert info["version"] == corpus.manifest(version)["upstream"]
    assert info["mode"] == "static"
    # statically, the API version comes from the library's file name (librbd.so.1.N.0)
    real = os.path.basename(os.path.realpath(corpus.library(version, "librbd")))
    versions = [l for n, l, v in got if n == "librbd_probe_rbd_version_info"]
    assert versions == [{"source": "file name", "version": real[len("librbd.so."):]}]


def test_article_host_problem_is_a_metric(tmp_path, capsys):
    librbd, librados = stubs.build_release_standin("0.87")
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = 61\n")
    code, report, text, t0, t1 = scan(tmp_path, ["--librbd", librbd, "--librados", librados,
                                                 "--conf", str(conf), "--require", "feature.fast-diff"], capsys)
    assert code == 1
    got = check_against_report(code, report, text, t0, t1)
    assert ("librbd_probe_problem", {"id": "config.unknown-features", "severity": "error"}, 1.0) in got
    assert ("librbd_probe_config_default_features", {}, 61.0) in got
    assert ("librbd_probe_capability", {"capability": "feature.fast-diff"}, 0.0) in got
    # the stand-in is identified as a range with one candidate: that is the release label
    info = [l for n, l, v in got if n == "librbd_probe_release_info"][0]
    assert info["release"] == report["release"]["candidates"][0] == "0.87" and info["codename"] == "giant"


def test_undetermined_scan_still_writes_metrics(tmp_path, capsys):
    empty = tmp_path / "root"
    empty.mkdir()
    code, report, text, t0, t1 = scan(tmp_path, ["--root", str(empty)], capsys)
    assert code == 3
    got = check_against_report(code, report, text, t0, t1)
    assert [l["confidence"] for n, l, v in got if n == "librbd_probe_release_info"] == ["none"]
    assert not [1 for n, l, v in got if n == "librbd_probe_rbd_version_info"]
    assert set(v for n, l, v in got if n == "librbd_probe_capability") == {-1.0}
    # HELP/TYPE of every family stay, even without samples (stable for dashboards)
    assert "# TYPE librbd_probe_rbd_version_info gauge" in text


def test_hostile_label_values_are_escaped():
    weird = 'a"b\\c\nd'
    report = {"mode": "static", "release": {"version": weird, "codename": None, "candidates": ["x", weird]},
              "capabilities": {"odd.cap": {"status": "maybe"}},
              "problems": [{"id": weird, "severity": "warning"}, {"id": weird, "severity": "warning"}]}
    text = prometheus.render(report, 1.5)
    rc, out = promtool_check(text)
    assert rc == 0, out
    got = samples(text)
    assert [l["version"] for n, l, v in got if n == "librbd_probe_release_info"] == [weird]
    # a repeated id is one series with the count, never two lines with one identity
    assert [(l["id"], v) for n, l, v in got if n == "librbd_probe_problem"] == [(weird, 2.0)]
    # a status the format does not know is unknown (-1), never yes
    assert [v for n, l, v in got if n == "librbd_probe_capability"] == [-1.0]


def test_promtool_rejects_what_the_test_would_miss():
    # the oracle bites: a broken escape and a repeated TYPE are refused
    assert promtool_check('librbd_probe_x{a="b} 1\n')[0] != 0
    assert promtool_check("# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n")[0] != 0


def test_write_is_atomic_and_readable_by_others(tmp_path):
    path = tmp_path / "librbd_probe.prom"
    path.write_text("old\n")
    inode = os.stat(str(path)).st_ino
    prometheus.write_textfile(str(path), {"mode": "static"}, 2.0)
    assert os.stat(str(path)).st_ino != inode          # renamed over, not rewritten in place
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o644
    assert sorted(os.listdir(str(tmp_path))) == ["librbd_probe.prom"]     # no temporary left
    assert "librbd_probe_scan_timestamp_seconds 2.0" in path.read_text()


def test_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "librbd_probe.prom"
    path.write_text("old\n")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UsageError) as err:
        prometheus.write_textfile(str(path), {"mode": "static"}, 2.0)
    assert "No space left on device" in str(err.value) and "\n" not in str(err.value)
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(str(tmp_path))) == ["librbd_probe.prom"]


@pytest.mark.parametrize("where, words", [("missing/dir/x.prom", "does not exist"), (".", "is a directory")])
def test_bad_path_is_a_usage_error_before_scanning(tmp_path, capsys, where, words):
    code = cli.main(["--no-runtime", "--prometheus", str(tmp_path / where)])
    err = capsys.readouterr()
    assert code == 2
    assert err.out == ""                                # refused before any scan output
    assert words in err.err and err.err.count("\n") == 1


def _free_port(address):
    sock = socket.socket()
    sock.bind((address, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_node_exporter_textfile_collector_reads_it(tmp_path, capsys, installed):
    """The consumer itself: node_exporter's textfile collector, scraped over HTTP on 127.0.0.7."""
    need(os.path.exists(NODE_EXPORTER), NODE_EXPORTER + " missing (apt-get install prometheus-node-exporter)")
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    code = cli.main(["--json", "--prometheus", str(textdir / "librbd_probe.prom")])
    report = json.loads(capsys.readouterr().out)
    address = "127.0.0.7"
    port = _free_port(address)
    proc = subprocess.Popen([NODE_EXPORTER, "--web.listen-address={}:{}".format(address, port),
                             "--collector.disable-defaults", "--collector.textfile",
                             "--collector.textfile.directory=" + str(textdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        body = None
        deadline = time.time() + 20
        while time.time() < deadline and body is None:
            try:
                body = urllib.request.urlopen("http://{}:{}/metrics".format(address, port), timeout=2).read()
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("node_exporter exited: " + proc.stderr.read().decode("utf-8", "replace")[-500:])
                time.sleep(0.1)
        assert body is not None, "node_exporter did not answer"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = body.decode("utf-8")
    assert "node_textfile_scrape_error 0" in text
    got = samples("\n".join(l for l in text.splitlines() if l.startswith("librbd_probe_")))
    assert ("librbd_probe_exit_code", {}, float(code)) in got
    caps = dict((l["capability"], v) for n, l, v in got if n == "librbd_probe_capability")
    assert caps["create.format2"] == {"yes": 1, "no": 0, "unknown": -1}[
        report["capabilities"]["create.format2"]["status"]]
    assert [l["version"] for n, l, v in got if n == "librbd_probe_release_info"] == ["16.2.15"]


RULES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib", "prometheus")


def test_shipped_alert_rules_pass_promtool_and_their_unit_tests(tmp_path):
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", os.path.join(RULES, "librbd_probe.rules.yml")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert check.returncode == 0, check.stdout.decode()
    unit = subprocess.run([promtool, "test", "rules", "librbd_probe.rules.test.yml"], cwd=RULES,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert unit.returncode == 0, unit.stdout.decode()
    # the unit tests bite: without "unless" every host is a minority, and the test must fail
    for name in ("librbd_probe.rules.yml", "librbd_probe.rules.test.yml"):
        shutil.copy(os.path.join(RULES, name), str(tmp_path / name))
    rules = tmp_path / "librbd_probe.rules.yml"
    rules.write_text(rules.read_text().replace("unless on (release)", "or on (release)"))
    broken = subprocess.run([promtool, "test", "rules", "librbd_probe.rules.test.yml"], cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert broken.returncode != 0


def test_alert_rules_match_the_metric_names_written(tmp_path, capsys):
    """Every librbd_probe_* name the rules use is one --prometheus writes (no silent typo)."""
    empty = tmp_path / "root"
    empty.mkdir()
    code, report, text, t0, t1 = scan(tmp_path, ["--root", str(empty)], capsys)
    written = set(re.findall(r"^# TYPE (\S+) gauge$", text, re.M))
    with open(os.path.join(RULES, "librbd_probe.rules.yml")) as handle:
        used = set(re.findall(r"\b(librbd_probe_[a-z_]+)", handle.read()))
    assert used and used <= written, used - written


def test_shipped_systemd_units_verify_cleanly():
    """contrib/prometheus/librbd-probe-textfile.{service,timer}: systemd's own checker, no warning."""
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze missing (package systemd)")
    units = [os.path.join(RULES, "librbd-probe-textfile." + kind) for kind in ("service", "timer")]
    proc = subprocess.run([analyze, "verify"] + units, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0 and proc.stdout.decode().strip() == "", proc.stdout.decode()
    with open(units[0]) as handle:
        service = handle.read()
    # the unit runs what this file documents: --prometheus into Debian's textfile directory
    assert "--prometheus /var/lib/prometheus/node-exporter/librbd_probe.prom" in service
    assert "SuccessExitStatus=1 3" in service
    if os.path.exists(NODE_EXPORTER):
        # ... which is Debian's node_exporter default (its --help says so)
        helptext = subprocess.run([NODE_EXPORTER, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
        assert b'--collector.textfile.directory="/var/lib/prometheus/node-exporter"' in helptext
