"""Hostile ceph.conf input (issue 13, items 1-2): values parsed as librados parses them, bounded
reading, files that are not regular files.

The oracle is the real librados: config_parsing.json's rows were answered by librados 16.2.15
(tools/config_oracle.py: rados_create + rados_conf_set + rados_conf_get), and the tests below
ask the installed library (and the corpus builds that load here) again, so the file cannot
drift from the library.  config.parse_option must give librados's answer on every row.
"""
import errno
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

import corpus
from conftest import PROJECT, need, run_cli
from librbd_probe import cephconf, cli, config
from librbd_probe.errors import InputError

sys.path.insert(0, os.path.join(PROJECT, "tools"))
import config_oracle  # noqa: E402

DATA = os.path.join(PROJECT, "librbd_probe", "knowledge", "data", "config_parsing.json")
# What a fresh rados_create(NULL) handle expands metavariables to (the oracle's handle: no
# conf file read, so no cluster name yet; the client is client.admin; no key set).
ORACLE_HANDLE = {"cluster": "", "type": "client", "name": "client.admin", "id": "admin", "key": ""}


def _doc():
    with open(DATA) as handle:
        return json.load(handle)


def _rows(release="16.2.15"):
    return _doc()["oracle"]["verified"][release]["rows"]


def _text(row):
    return row["input"] * row.get("repeat", 1)


def _label(row):
    return "{}={!r}{}".format(row["option"], row["input"][:20], "x{}".format(row["repeat"]) if "repeat" in row else "")


@pytest.mark.parametrize("row", _rows(), ids=_label)
def test_parse_option_agrees_with_librados_16_2_15(row):
    parsed = config.parse_option(row["option"], _text(row), "16.2.15", variables=ORACLE_HANDLE)
    assert parsed.accepted == row["accepted"], parsed
    stored = str(parsed.value) if parsed.accepted else config.kept_value(row["option"], "16.2.15")
    assert stored == row["stored"]
    if not parsed.accepted:
        assert parsed.reason and "\n" not in parsed.reason and len(parsed.reason) < 200


def test_the_table_covers_the_issue_rows():
    inputs = {(r["option"], _text(r)) for r in _rows()}
    assert ("rbd_default_features", "061") in inputs
    assert ("rbd_default_features", "1" * 4301) in inputs            # past Python's int-string limit
    assert ("rbd_default_features", "0x1zz") in inputs
    assert ("rbd_default_stripe_unit", "4MiB") in inputs              # a unit librados 16.2.15 refuses
    assert ("rbd_default_data_pool", "$key") in inputs


def test_the_installed_librados_still_answers_the_table(installed):
    """The stored rows are the installed library's answers (re-asked, not trusted)."""
    doc = _doc()
    got = config_oracle.answers(installed["librados"], doc["oracle"]["rows"])
    assert got == doc["oracle"]["verified"]["16.2.15"]["rows"]
    assert config_oracle.derive(got) == doc["oracle"]["verified"]["16.2.15"]["derived"]


def test_the_corpus_16_2_15_build_answers_the_same():
    path = corpus.library("16.2.15", "librados")
    doc = _doc()
    assert config_oracle.answers(path, doc["oracle"]["rows"]) == doc["oracle"]["verified"]["16.2.15"]["rows"]
    assert config_oracle.file_answers(path, doc["oracle"]["file_rows"]) == doc["oracle"]["verified"]["16.2.15"]["file_rows"]


@pytest.mark.parametrize("version", sorted(_doc()["oracle"]["unverified"]))
def test_unverified_releases_really_do_not_load_here(version):
    """A release is left unverified only while its build cannot be loaded on this host; once it
    loads, this fails: run tools/config_oracle.py --librados <it> --release <it> --write."""
    path = corpus.library(version, "librados")
    with pytest.raises(RuntimeError) as info:
        config_oracle.ask(path, _doc()["oracle"]["rows"][:1])
    missing = _doc()["oracle"]["unverified"][version].split(": ")[-1].split()[0]
    assert missing in str(info.value)


# --- never raises ---------------------------------------------------------------------------

_PIECES = ["[global]", "[client.admin]", "[", "]", "=", " = ", "#", ";", "\\", '"', "$key", "${", "$",
           "rbd default features", "rbd_default_format", "rbd default stripe unit", "rbd default data pool",
           "key", "keyring", "0x", "061", "-1", "+", "1K", "4MiB", "9" * 5000, "0" * 5000, "layering", ",",
           "\x00", "\r", "\u2028", "\udcff", "AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A==", " ", "\t", "\n"]


def test_parse_and_analyse_never_raise_on_random_text():
    rng = random.Random(13)
    facts_choices = (None, {}, config_facts("16.2.15"), config_facts("14.2.21"))
    for _ in range(1500):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 30)))
        sections = config.parse_ceph_conf(text.splitlines(True))
        values = config.raw_values(sections, config.section_order())
        for facts in facts_choices:
            config.analyse(values, facts)
        for option in config.KEYS:
            config.parse_option(option, text)


def test_parse_ceph_conf_takes_any_line_objects():
    parsed = config.parse_ceph_conf([b"[client]\n", b"rbd default format = \xff1\n", None, 7])
    assert parsed["client"]["rbd_default_format"] == "\ufffd1"


def config_facts(version):
    from librbd_probe.identify import Facts
    return Facts({}, (version,))


# --- what the report says -------------------------------------------------------------------

def _conf(tmp_path, body, name="ceph.conf"):
    path = tmp_path / name
    path.write_text(u"[global]\n" + body + u"\n")
    return str(path)


def _report(args, env=None, timeout=120):
    proc = run_cli(list(args) + ["--json"], env=env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def _config_problems(report, problem_id=None):
    return [p for p in report["problems"] if p["id"].startswith("config.") and (problem_id is None or p["id"] == problem_id)]


@pytest.mark.parametrize("mode", ["--no-runtime", None])
def test_leading_zeros_are_decimal_as_librados_reads_them(tmp_path, mode):
    conf = _conf(tmp_path, u"rbd default features = 061")
    proc, report = _report(["--conf", conf] + ([mode] if mode else []))
    assert proc.returncode in (0, 1)
    assert report["config"]["rbd_default_features"]["value"] == 61
    assert not _config_problems(report, "config.rejected-value")


@pytest.mark.parametrize("mode", ["--no-runtime", None])
def test_a_4301_digit_value_is_a_rejected_value_not_a_traceback(tmp_path, mode):
    conf = _conf(tmp_path, u"rbd default features = " + u"1" * 4301 + u"\nrbd default format = " + u"9" * 4301)
    proc, report = _report(["--conf", conf] + ([mode] if mode else []))
    problems = _config_problems(report, "config.rejected-value")
    assert len(problems) == 2, problems
    for problem in problems:
        assert problem["severity"] == "error" and len(problem["message"]) < 600
        assert "(4301 characters)" in problem["message"]
    if mode is None:         # the loaded library's own verdict
        assert all("the loaded librados rejects it" in p["message"] for p in problems)
        assert report["config"]["values"]["rbd_default_features"] == "61"      # what the client keeps


def test_rejected_value_message_names_the_release_and_what_is_kept(tmp_path):
    conf = _conf(tmp_path, u"rbd default features = 0x1zz\nrbd default stripe unit = 4MiB")
    proc, report = _report(["--conf", conf, "--no-runtime"])
    messages = [p["message"] for p in _config_problems(report, "config.rejected-value")]
    assert any(m.startswith("rbd default features = 0x1zz: librados 16.2.15 rejects it") and
               m.endswith("the client keeps rbd default features (61)") for m in messages), messages
    assert any(m.startswith("rbd default stripe unit = 4MiB: librados 16.2.15 rejects it") for m in messages)


def test_release_not_identified_is_a_warning_and_bit_content_is_not_claimed():
    _, problems = config.analyse({"rbd_default_features": "0x1zz", "rbd_default_format": "1K5"}, {})
    assert [(p.id, p.severity) for p in problems] == [("config.rejected-value", "warning")] * 2
    assert "was not identified" in problems[0].message
    # 4096 is rejected by 16.2.15 for its bits; another release may know them: no claim
    _, problems = config.analyse({"rbd_default_features": "4096"}, {})
    assert "config.rejected-value" not in [p.id for p in problems]
    # an identified release nobody verified: no rejection claimed either
    _, problems = config.analyse({"rbd_default_features": "0x1zz"}, config_facts("14.2.21"))
    assert "config.rejected-value" not in [p.id for p in problems]


def _peak_rss_mib(args, env=None, timeout=120):
    """(completed process, peak RSS in MiB of the CLI and its runtime child) in a fresh process."""
    code = ("import resource, subprocess, sys, json\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
            "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(json.dumps([p.returncode, r, p.stderr.decode('utf-8', 'replace')]))\n")
    full_env = dict(os.environ, PYTHONPATH=PROJECT)
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "librbd_probe"] + list(args),
                         stdout=subprocess.PIPE, env=full_env, timeout=timeout, universal_newlines=True).stdout
    rc, kib, stderr = json.loads(out)
    return rc, kib / 1024.0, stderr


@pytest.fixture(scope="module")
def big_conf(tmp_path_factory):
    """A 100 MB ceph.conf (one million distinct options), sparse nowhere: real bytes."""
    path = tmp_path_factory.mktemp("big") / "ceph.conf"
    with open(str(path), "w") as handle:
        handle.write("[global]\nrbd default features = 1\n")
        line = "opt{} = " + "y" * 90 + "\n"
        for i in range(1000000):
            handle.write(line.format(i))
    assert os.path.getsize(str(path)) > 100 * 10 ** 6
    return str(path)


def test_a_100_mb_conf_named_with_conf_is_refused_in_one_line(big_conf):
    rc, peak, stderr = _peak_rss_mib(["--conf", big_conf, "--no-runtime"])
    assert rc == cli.EXIT_USAGE
    assert stderr.count("\n") == 1 and "over the limit of 16 MiB for ceph.conf" in stderr
    assert peak < 60, peak                          # was 558 MB


@pytest.mark.parametrize("mode", ["--no-runtime", None])
def test_a_100_mb_discovered_conf_is_a_problem_and_costs_no_memory(big_conf, mode):
    rc, peak, stderr = _peak_rss_mib(["--json"] + ([mode] if mode else []), env={"CEPH_CONF": big_conf})
    assert "Traceback" not in stderr
    assert peak < 80, peak                          # was 558 MB static / 877 MB with the runtime child
    proc, report = _report([mode] if mode else [], env={"CEPH_CONF": big_conf})
    (problem,) = _config_problems(report, "config.file-refused")
    assert "over the limit of 16 MiB" in problem["message"]
    assert report["config"]["values"].get("rbd_default_features") != "1"      # the file was not read


def test_a_conf_under_the_limit_is_streamed(tmp_path):
    path = tmp_path / "ceph.conf"
    with open(str(path), "w") as handle:
        handle.write("[global]\n")
        for i in range(140000):
            handle.write("opt{} = {}\n".format(i, "z" * 100))
        handle.write("rbd default format = 1\n")
    assert os.path.getsize(str(path)) > 15 * 10 ** 6
    rc, peak, stderr = _peak_rss_mib(["--conf", str(path), "--no-runtime", "--json"])
    assert rc in (0, 1) and "Traceback" not in stderr
    assert peak < 50, peak           # one line at a time: the interpreter plus the scan


@pytest.fixture
def fifo(tmp_path):
    path = str(tmp_path / "ceph.conf")
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket(tmp_path):
    path = str(tmp_path / "sock.conf")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    yield path
    sock.close()


@pytest.mark.parametrize("kind, words", [
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("/dev/zero", "is a character device, not a regular file"),
    ("dir", "is a directory"),
    ("socket", "is a socket, not a regular file"),
])
def test_conf_naming_something_not_a_file_is_one_line_exit_2(request, tmp_path, kind, words):
    path = {"fifo": lambda: request.getfixturevalue("fifo"), "/dev/zero": lambda: "/dev/zero",
            "dir": lambda: str(tmp_path), "socket": lambda: request.getfixturevalue("unix_socket")}[kind]()
    for mode in (["--no-runtime"], []):
        proc = run_cli(["--conf", path] + mode, timeout=30)
        assert proc.returncode == cli.EXIT_USAGE
        assert proc.stderr.count("\n") == 1 and words in proc.stderr and "--conf" in proc.stderr, proc.stderr
        assert proc.stdout == ""


def test_scan_raises_input_error_for_a_fifo_conf(fifo):
    from librbd_probe import scan
    with pytest.raises(InputError) as info:
        scan.scan(conf=fifo, runtime=False)
    assert "\n" not in str(info.value)


def test_a_discovered_fifo_is_a_problem_and_nobody_blocks_on_it(fifo):
    """CEPH_CONF names a FIFO: the static read and librados in the child would both block in
    open(); neither opens it, the report says so."""
    for mode in (["--no-runtime"], []):
        proc, report = _report(mode, env={"CEPH_CONF": fifo}, timeout=60)
        (problem,) = _config_problems(report, "config.file-refused")
        assert "is a FIFO" in problem["message"]
        assert "librados 16.2.15 blocks in rados_conf_read_file on it" in problem["message"]
    assert report["config"]["read_by"].startswith("librados defaults")


def test_choose_conf(tmp_path):
    assert config.choose_conf([("/nonexistent/a.conf", "x"), ("/dev/zero", "y")])[2].endswith(
        "is a character device, not a regular file")
    assert config.choose_conf([("/nonexistent/a.conf", "x")]) == (None, None, None)
    # a directory is passed over as librados passes over it (-ENOENT, file_kinds)
    real = tmp_path / "b.conf"
    real.write_text(u"[global]\n")
    assert config.choose_conf([(str(tmp_path), "d"), (str(real), "r")]) == (str(real), "r", None)


def test_control_characters_in_a_conf_value_stay_escaped(tmp_path):
    conf = tmp_path / "ceph.conf"
    conf.write_bytes(b"[global]\nrbd default features = 0x\x1b[31mred\x1b[0m\n")
    proc, report = _report(["--conf", str(conf), "--no-runtime"])
    (problem,) = _config_problems(report, "config.rejected-value")
    assert "\x1b" not in problem["message"] and "\\x1b" in problem["message"]


# --- the whole file: librados's grammar (ConfUtils IniGrammer), verdict per file -------------

def _file_rows(release="16.2.15"):
    return _doc()["oracle"]["verified"][release]["file_rows"]


@pytest.mark.parametrize("row", _file_rows(), ids=lambda r: repr(r["text"][:40]))
def test_parse_ceph_conf_gives_librados_verdict_on_the_file(row):
    data = row["text"].encode("latin-1")
    verdict = {}
    sections = config.parse_ceph_conf(data.splitlines(True), verdict=verdict)
    assert verdict["status"] == row["status"], verdict
    if row["status"] == "ok":
        pool = config.lookup(sections, "rbd_default_data_pool", config.section_order()) or ""
        assert pool == row["pool"]
    else:
        assert isinstance(verdict["line"], int) and verdict["reason"] and "\n" not in verdict["reason"]


def test_the_file_rows_cover_abort_reject_and_ok():
    statuses = {r["status"] for r in _file_rows()}
    assert statuses == {"ok", "rejected", "aborts"}


def test_the_installed_librados_still_gives_the_file_verdicts(installed):
    doc = _doc()
    assert config_oracle.file_answers(installed["librados"], doc["oracle"]["file_rows"]) == _file_rows()


@pytest.mark.parametrize("mode", ["--no-runtime", None])
def test_a_file_librados_aborts_on_is_a_problem_and_the_probe_survives(tmp_path, mode):
    conf = tmp_path / "ceph.conf"
    conf.write_bytes(b"[global]\nrbd default data pool = \xc3\xa9t\xc3\xa9\nrbd default format = 1\n")
    proc, report = _report(["--conf", str(conf)] + ([mode] if mode else []))
    (problem,) = _config_problems(report, "config.file-aborts-librados")
    assert problem["severity"] == "error" and "line 2: a non-ASCII character" in problem["message"]
    assert "librados 16.2.15 aborts reading this file" in problem["message"]
    assert report["config"]["values"].get("rbd_default_format") in (None, "2")    # nothing of it applies
    if mode is None:
        assert report["runtime"]["loaded"] and not report["runtime"]["error"]        # the child lived
        assert proc.returncode in (0, 1)


@pytest.mark.parametrize("mode", ["--no-runtime", None])
def test_a_file_librados_rejects_is_a_problem(tmp_path, mode):
    conf = tmp_path / "ceph.conf"
    conf.write_text(u"[global]\nrbd default format = 1\nthis line has no equals sign\n")
    proc, report = _report(["--conf", str(conf)] + ([mode] if mode else []))
    (problem,) = _config_problems(report, "config.file-rejected")
    assert "line 3: expected 'key = value' or a [section]" in problem["message"]
    assert "applies none of its settings" in problem["message"]
    if mode is None:
        assert problem["message"].startswith("the loaded librados rejects")
        assert report["config"]["values"]["rbd_default_format"] == "2"
    else:
        assert report["config"]["values"] == {}


def test_the_installed_librados_still_treats_non_regular_files_so(installed):
    """FIFO: blocks (the child would hang); a device: 0, skipped; a directory or socket: -ENOENT;
    a file over this tool's 16 MiB limit: read whole."""
    stored = _doc()["oracle"]["verified"]["16.2.15"]["file_kinds"]
    assert config_oracle.kind_answers(installed["librados"]) == stored
    assert stored["FIFO"] == "blocks"


def test_refusal_messages_say_what_librados_does():
    # a device is not skipped: CEPH_CONF=/dev/zero,R reads nothing of R (conf_sources)
    assert "reads it as an empty file and looks no further (rados_conf_read_file returns 0)" in config._client_on(
        "ceph.conf /dev/zero: is a character device")
    assert "reads such a file whole" in config._client_on("ceph.conf /x: 17825792 bytes, over the limit of 16 MiB")
    assert "returns -ENOENT" in config._client_on("ceph.conf /x: is a directory")


def test_explain_origin_says_a_rejected_file_applies_nothing(tmp_path):
    from librbd_probe import scan
    from librbd_probe.explain import hostinfo
    conf = tmp_path / "ceph.conf"
    conf.write_text(u"[global]\nrbd default format = 1\nno equals here\n")
    report = scan.scan(conf=str(conf), runtime=False)
    origin = hostinfo.config_origin(report, {})["rbd_default_format"]
    assert origin.startswith("the library's compiled-in default (")
    assert "[global] sets it, but librados applies nothing of that file" in origin and "line 3" in origin


@pytest.mark.parametrize("excluded", ["]#;\\", "=[ \t#;\\", "] \t#;\\", "=[ #;\\", "\\#;"])
def test_ascii_class_is_the_negated_class_it_replaces(excluded):
    # the regex engine's own negated class (the form the grammar was written in) is the oracle,
    # over every code point, surrogates included
    negated = re.compile("[^" + "".join("\\x{:02x}".format(ord(c)) for c in excluded) + "\\x80-\\U0010ffff]")
    positive = re.compile(cephconf._ascii_but(excluded))
    text = "".join(chr(c) for c in range(0x110000))
    assert [m.start() for m in negated.finditer(text)] == [m.start() for m in positive.finditer(text)]


# --- one rule for the null device, wherever the path comes from (issue 13 left-over) ----------

def _sources():
    return _doc()["oracle"]["verified"]["16.2.15"]["conf_sources"]


def test_the_installed_librados_still_reads_each_conf_source_so(installed):
    """The real library decides: /dev/null is an empty file by path and through CEPH_CONF, a
    FIFO blocks either way, CEPH_ARGS -c is not read by librados at all (-ENOENT: its own
    search found nothing), whatever it names."""
    need(shutil.which("ceph-conf"), "ceph-conf not installed (apt-get install ceph-common)")
    stored = _sources()
    assert config_oracle.source_answers(installed["librados"]) == stored
    assert stored["CEPH_CONF"]["null device"] == stored["rados_conf_read_file(path)"]["null device"] == 0
    assert stored["CEPH_CONF"]["FIFO"] == "blocks"
    # the commands built on global_init read CEPH_ARGS -c: /dev/null as empty, a FIFO blocks them
    assert stored["ceph-conf, CEPH_ARGS -c"]["null device"] == 0
    assert stored["ceph-conf, CEPH_ARGS -c"]["FIFO"] == "blocks"


_SOURCE_OF = {"--conf": "rados_conf_read_file(path)", "CEPH_CONF": "CEPH_CONF", "CEPH_ARGS": "CEPH_ARGS -c"}


@pytest.mark.parametrize("kind", ["null device", "FIFO", "character device", "regular file", "missing file"])
@pytest.mark.parametrize("how", ["--conf", "CEPH_CONF", "CEPH_ARGS"])
def test_the_tool_reads_each_conf_source_as_librados_does(tmp_path, installed, how, kind):
    need(not os.path.exists("/etc/ceph/ceph.conf"), "/etc/ceph/ceph.conf exists: the search would find it")
    path = {"null device": os.devnull, "character device": "/dev/zero"}.get(kind)
    if kind == "FIFO":
        path = str(tmp_path / "fifo.conf")
        os.mkfifo(path)
    elif kind == "regular file":
        path = _conf(tmp_path, u"rbd default data pool = oracle-marker")
    elif kind == "missing file":
        path = str(tmp_path / "none.conf")
    librados = _sources()[_SOURCE_OF[how]][kind]
    env = {"HOME": str(tmp_path), "CEPH_CONF": "", "CEPH_ARGS": ""}
    args = ["--librbd", installed["librbd"], "--librados", installed["librados"], "--timeout", "20"]
    if how == "--conf":
        args += ["--conf", path]
    elif how == "CEPH_CONF":
        env["CEPH_CONF"] = path
    else:
        env["CEPH_ARGS"] = "-c " + path
    started = time.time()
    proc = run_cli(args + ["--json"], env=env, timeout=60)
    assert time.time() - started < 30 and "Traceback" not in proc.stderr      # nothing blocked on a FIFO
    if how == "--conf" and kind in ("FIFO", "character device", "missing file"):
        # named by the user: refused at once, one line, exit 2 (never opened)
        assert proc.returncode == cli.EXIT_USAGE and proc.stderr.count("\n") == 1, proc.stderr
        assert librados in ("blocks", 0, -errno.ENOENT)
        return
    report = json.loads(proc.stdout)
    refused = _config_problems(report, "config.file-refused")
    if librados == "read":                           # the library read the file: so does the tool
        assert report["config"]["file"] == path and not refused
        assert report["config"]["values"]["rbd_default_data_pool"] == "oracle-marker"
    elif librados == 0 and kind == "null device":    # an empty configuration, from any source
        assert (report["config"]["file"], report["config"]["found_via"], refused) == (path, how, [])
        assert report["config"]["read_by"].startswith("librados (rados_create + rados_conf_read_file")
        assert "rbd_default_data_pool" not in report["config"]["values"]
        assert not report["config"].get("read_rc")
    elif librados in ("blocks", 0):                  # a FIFO blocks librados; any other device: refused
        (problem,) = refused
        assert "not a regular file" in problem["message"] and "\n" not in problem["message"]
        assert report["config"]["read_by"].startswith("librados defaults")
    else:                                            # -ENOENT: librados reads no file here, nor does the tool
        assert librados == -errno.ENOENT
        assert report["config"]["file"] is None and not refused, report["config"]
        assert "rbd_default_data_pool" not in report["config"]["values"]
    notes = _config_problems(report, "config.ceph-args-conf")
    if how != "CEPH_ARGS":
        assert notes == []
        return
    # the commands that do read CEPH_ARGS -c (global_init; the real ceph-conf answered) are named
    (note,) = notes
    commands = _sources()["ceph-conf, CEPH_ARGS -c"][kind]
    assert note["severity"] == ("info" if commands in ("read", 0) else "warning")
    assert "CEPH_ARGS names the ceph.conf {}".format(path) in note["message"]
    assert {"read": "read that file instead", 0: "read it as an empty configuration", "blocks": "block in open()",
            -errno.ENOENT: "global_init cannot open it"}[commands] in note["message"]
    assert "librados clients (QEMU, the Python and Go bindings: rados_conf_read_file) ignore it" in note["message"]


def test_choose_conf_takes_the_null_device_and_refuses_other_devices(tmp_path):
    assert config.choose_conf([("/nonexistent/a.conf", "x"), (os.devnull, "y")]) == (os.devnull, "y", None)
    assert config.choose_conf([("/dev/zero", "z")])[2].endswith("is a character device, not a regular file")
    empty = tmp_path / "empty.conf"
    empty.write_bytes(b"")
    assert config.read_conf(os.devnull) == config.read_conf(str(empty))


def test_static_mode_reads_a_null_ceph_conf_as_empty():
    proc, report = _report(["--no-runtime"], env={"CEPH_CONF": os.devnull})
    assert (report["config"]["file"], _config_problems(report)) == (os.devnull, [])
    assert report["config"]["read_by"].startswith("librbd_probe's ceph.conf parser")


def test_live_mode_never_hands_a_refused_conf_to_librados(fifo):
    """CEPH_CONF names a FIFO: the scan refuses it, and live mode does not open it either (its
    child's rados_conf_read_file would block until the timeout)."""
    from librbd_probe import live
    options = live.LiveOptions(conf=fifo, timeout=5)
    started = time.time()
    section = live.run_live("librbd.so.1", None, frozenset(), None, options)
    assert time.time() - started < 2
    assert section["connected"] is False and section["error"]["stage"] == "conf"
    assert section["error"]["message"].endswith("is a FIFO (named pipe), not a regular file: not handed to librados")
    (problem,) = live.live_problems(section, None)
    assert problem.id == "live.connect" and "\n" not in problem.message
    assert live.conf_refusal(os.devnull) is None and live.conf_refusal("/dev/zero").endswith("not handed to librados")


def test_live_mode_with_a_fifo_ceph_conf_says_so_at_once(fifo):
    """Before: the live child opened the FIFO and hung until its timeout (5 + 15 s), then
    "the library did not answer within 20 s"."""
    started = time.time()
    proc = run_cli(["--live", "--timeout", "5"], env={"CEPH_CONF": fifo}, timeout=60)
    assert time.time() - started < 10
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.endswith("is a FIFO (named pipe), not a regular file: not handed to librados\n")


@pytest.mark.parametrize("args, path", [
    ("-c /a.conf", "/a.conf"), ("--conf=/a.conf", "/a.conf"), ("--conf /a.conf --id x", "/a.conf"),
    ("-c /a.conf -c /b.conf", "/b.conf"), ("-c", None), ("--id admin", None), ("", None), ("-cx", None)])
def test_ceph_args_conf_takes_what_global_init_takes(args, path):
    assert config.ceph_args_conf({"CEPH_ARGS": args}) == path


@pytest.mark.parametrize("row", config_oracle.SEARCH_ROWS)
def test_the_search_follows_ceph_conf_as_librados_does(tmp_path, monkeypatch, installed, row):
    """CEPH_CONF set means only its files (a list split at "," and ";", nothing trimmed), even a
    missing one or an empty value: the defaults (./ceph.conf here) are not searched after it.
    Before, the tool went on to ./ceph.conf and its child read that file: a report of a file no
    client on the host reads."""
    from librbd_probe import scan
    need(not os.path.exists("/etc/ceph/ceph.conf"), "/etc/ceph/ceph.conf exists: the search would find it")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "ceph.conf").write_text(u"[global]\nrbd default data pool = cwd-marker\n")
    regular = _conf(tmp_path, u"rbd default data pool = oracle-marker")
    environ = {"HOME": str(tmp_path)}
    if row != "unset":
        environ["CEPH_CONF"] = row.replace("M", str(tmp_path / "none.conf")).replace("R", regular)
    monkeypatch.chdir(str(cwd))
    report = scan.scan(librbd=installed["librbd"], librados=installed["librados"], environ=environ)
    librados = _sources()["CEPH_CONF search"][row]
    expected = {"read": regular, "current directory": str(cwd / "ceph.conf"), -errno.ENOENT: None}[librados]
    assert report.config["file"] == expected
    assert report.config["values"].get("rbd_default_data_pool") == {
        "read": "oracle-marker", "current directory": "cwd-marker"}.get(librados)


_RADOS_CALLS = """
import ctypes, sys
lib = ctypes.CDLL("librados.so.2")
handle = ctypes.c_void_p()
assert lib.rados_create(ctypes.byref(handle), None) == 0
print("read", lib.rados_conf_read_file(handle, sys.argv[1].encode()), flush=True)
if sys.argv[2] == "connect":
    lib.rados_conf_set(handle, b"client_mount_timeout", b"2")
    print("connect", lib.rados_connect(handle), flush=True)
"""


def _keyring_conf(directory, body):
    path = directory / "ceph.conf"
    path.write_text("[global]\nmon_host = 127.0.0.1:1\nclient_mount_timeout = 2\n" + body)
    return str(path)


def _librados_says(conf, step):
    """What the installed librados does with ``conf``: "read 0", "read 0 / connect -110", or
    ending in "blocked" (killed after 8 s: nothing would have ended it)."""
    out = conf + ".out"
    with open(out, "w") as handle:
        proc = subprocess.Popen(["/usr/bin/python3", "-c", _RADOS_CALLS, conf, step], stdout=handle,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=8)
            blocked = []
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            blocked = ["blocked"]
    with open(out) as handle:
        return " / ".join([line for line in handle.read().split("\n") if line] + blocked)


def test_librados_blocks_on_the_keyring_and_keyfile_fifos_config_names(tmp_path):
    """The facts config.file_fifos, the probe and live mode act on, asked of the installed
    librados: a FIFO as the keyring the file sets for the client blocks rados_conf_read_file
    (in [global], [client], later in a list; not in another client's section), so does a FIFO
    keyfile beside a keyring; a FIFO keyfile alone blocks rados_connect; /dev/zero as the
    keyring does not block.  What file_fifos flags is exactly what blocks."""
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    rows = {"keyring = {}".format(fifo): "read",
            "[client]\nkeyring = {}".format(fifo): "read",
            "keyring = {}/none,{}".format(tmp_path, fifo): "read",
            "[client.other]\nkeyring = {}".format(fifo): "connect",
            "keyfile = {}\nkeyring = {}/none".format(fifo, tmp_path): "connect",
            "keyfile = {}".format(fifo): "connect",
            "keyring = /dev/zero": "connect"}
    got = {}
    for index, (body, step) in enumerate(rows.items()):
        directory = tmp_path / str(index)
        directory.mkdir()
        got[body] = _librados_says(_keyring_conf(directory, body + "\n"), step)
    assert got == {
        "keyring = {}".format(fifo): "blocked",
        "[client]\nkeyring = {}".format(fifo): "blocked",
        "keyring = {}/none,{}".format(tmp_path, fifo): "blocked",
        "[client.other]\nkeyring = {}".format(fifo): "read 0 / connect -110",
        "keyfile = {}\nkeyring = {}/none".format(fifo, tmp_path): "blocked",
        "keyfile = {}".format(fifo): "read 0 / blocked",
        "keyring = /dev/zero": "read 0 / connect -110"}, got
    # and what the tool computes from the same files
    for index, body in enumerate(rows):
        parsed = config.read_conf(str(tmp_path / str(index) / "ceph.conf"))
        fifos = config.file_fifos(parsed, config.section_order(), str(tmp_path / str(index) / "ceph.conf"))
        assert bool(fifos["keyring"] or fifos["keyfile"]) == got[body].endswith("blocked"), body


def test_live_mode_does_not_connect_with_a_keyring_fifo(tmp_path):
    """A keyring the ceph.conf names is a FIFO: the scan states it (config.keyring_fifos and
    the config.keyring-refused problem), and --live stops at once with one line, exit 3,
    instead of a child blocked in rados_connect until its timeout (before: 5 + 15 s)."""
    fifo = tmp_path / "client.keyring"
    os.mkfifo(str(fifo))
    conf = _keyring_conf(tmp_path, "keyring = {}\n".format(fifo))
    proc, report = _report(["--no-runtime", "--conf", conf])
    assert report["config"]["keyring_fifos"] == [str(fifo)]
    assert {"config.keyring-refused", "config.keyring-fifo"} <= {p["id"] for p in report["problems"]}
    # the runtime probe: the file is not handed to the child (it would block in
    # rados_conf_read_file until the timeout); the values are librados's defaults
    started = time.time()
    proc, report = _report(["--conf", conf, "--timeout", "5"])
    assert time.time() - started < 10 and proc.returncode == 0, proc.stderr
    assert report["config"]["read_by"].startswith("librados defaults")
    assert report["runtime"]["loaded"] is True and report["config"]["keyring_fifos"] == [str(fifo)]
    started = time.time()
    proc = run_cli(["--live", "--conf", conf, "--timeout", "5"], timeout=60)
    assert time.time() - started < 10
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.endswith("is a FIFO (named pipe), not a regular file: librados would block opening it, "
                                "so live mode does not connect\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "client.keyring").write_text("[client.admin]\n\tkey = AQBvaBVgAAAAABAAbmN1cnNlZGtleWJ5dGVzAAA==\n")
    proc, report = _report(["--no-runtime", "--conf", _keyring_conf(plain, "keyring = {}\n".format(plain / "client.keyring"))])
    assert "keyring_fifos" not in report["config"] and "config.keyring-fifo" not in [p["id"] for p in report["problems"]]
