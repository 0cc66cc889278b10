"""Every message an embedder of the library API gets is one line (issue 13 left-over).

The CLI's writer escapes what it prints; ``librbd_probe.capabilities()`` and the other API
functions hand back records, and their messages carry text from paths, files, the environment
and the library (a dlopen error names its file).  The records escape their message fields when
they are made (``model.line_text``): these tests plant a newline, ESC and U+2028 in real paths
(a real librbd copied under such a directory, a file that is not ELF, a FIFO named by
CEPH_CONF, a file the real dynamic loader fails to open) and check every message field of what
the API returns.  The control-character class below is written here from the Unicode
categories (C0, DEL, C1, line/paragraph separators, lone surrogates), not taken from the code.
"""
import os
import re
import shutil

import pytest

from conftest import need
import librbd_probe
from librbd_probe import bindings, consumers, live, model, probe, scan
from librbd_probe.children import _stderr_tail
from librbd_probe.explain import analyse

#: control characters but tab (the CLI keeps tabs too)
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
EVIL = "d\n[error] FORGED \x1b[31m\u2028x"
SHOWN = "d\\n[error] FORGED \\x1b[31m\\u2028x"          # how safeio.one_line writes it
LIBRBD = "/usr/lib/x86_64-linux-gnu/librbd.so.1"


def _strings(value):
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, model.Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (tuple, list, frozenset)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _report_messages(report):
    """Every message field of a Report (paths and names are data, not messages)."""
    out = []
    for problem in report.problems:
        out += [problem.message, problem.fix] + list(problem.evidence)
    for cap in report.capabilities:
        out += [cap.reason] + list(cap.evidence)
    for lib in report.libraries.values():
        out.append(lib.error)
        out += [c.note for c in lib.candidates]
    out.append(report.runtime.skipped)
    out += list(_strings(report.runtime.error or {}))
    return [m for m in out if m is not None]


def _consumer_messages(consumer):
    out = [consumer.error, consumer.sees] + list(consumer.skipped)
    for field in (consumer.missing, consumer.not_found, consumer.versions, consumer.other_failures):
        out += list(_strings(field))
    return [m for m in out if m is not None]


def _check(messages):
    bad = [m for m in messages if CONTROL.search(m)]
    assert not bad, bad
    return messages


@pytest.fixture
def evil(tmp_path):
    need(os.path.exists(LIBRBD), LIBRBD + " not installed")
    directory = tmp_path / EVIL
    directory.mkdir()
    shutil.copy(LIBRBD, str(directory / "librbd.so.1"))
    (directory / "notelf.so").write_bytes(b"hello world\n" * 10)
    os.mkfifo(str(directory / "ceph.conf"))
    return str(directory)


@pytest.mark.parametrize("runtime", [True, False])
@pytest.mark.parametrize("name", ["librbd.so.1", "notelf.so"])
def test_capabilities_messages_are_one_line(evil, monkeypatch, runtime, name):
    monkeypatch.setenv("CEPH_CONF", os.path.join(evil, "ceph.conf"))
    report = librbd_probe.capabilities(librbd=os.path.join(evil, name), runtime=runtime)
    messages = _check(_report_messages(report))
    # the planted path did reach the messages (escaped): the test sees what it checks
    assert any(SHOWN in m for m in messages), messages
    assert "config.file-refused" in {p.id for p in report.problems}
    if name == "notelf.so":
        assert SHOWN in report.libraries["librbd"].error
        assert all(SHOWN in c.reason for c in report.capabilities if c.status == "unknown")
    # the records serialise what they hold: to_dict() carries the same one-line text
    assert not [m for m in _strings(report.to_dict()["problems"]) if CONTROL.search(m)]


def test_a_dlopen_error_naming_the_path_is_one_line(evil):
    """The real loader's message names the file: "<path>: cannot open shared object file"."""
    missing = os.path.join(evil, "gone", "librbd.so.1")
    answer, error = probe.probe_libraries(missing, None, ["rbd_version"], timeout=30)
    runtime = probe.runtime_report(answer, error)
    assert "cannot open shared object file" in runtime.error["message"]
    assert SHOWN in runtime.error["message"]
    _check(list(_strings(runtime.error)))
    (problem,) = probe.runtime_problems(runtime, {})
    assert problem.id == "runtime-failed" and SHOWN in _check([problem.message])[0]


def test_the_childs_stderr_tail_is_one_line():
    assert _stderr_tail(b"first\nlast \x1b[31mred\x1b[0m\x07\n") == "last \\x1b[31mred\\x1b[0m\\x07"


def test_consumer_messages_are_one_line(evil):
    report = scan.scan(runtime=False)
    python_module = "/usr/lib/python3/dist-packages/rbd.cpython-311-x86_64-linux-gnu.so"
    if os.path.exists(python_module):
        shutil.copy(python_module, os.path.join(evil, "rbd.so"))
    found = consumers.check_all(report, paths=[evil])
    messages = [m for c in found for m in _consumer_messages(c)]
    _check(messages)
    unreadable = [c for c in found if c.error]
    assert unreadable and all(SHOWN in c.error for c in unreadable), [c.error for c in found]


def test_binding_notes_are_one_line(evil):
    binding = bindings.read_binding("rbd", os.path.join(evil, "notelf.so"), "python3")
    assert binding.kind == "unreadable" and SHOWN in _check([binding.note])[0]


def test_requirement_error_is_one_line(evil):
    report = librbd_probe.capabilities(librbd=os.path.join(evil, "librbd.so.1"), runtime=False)
    failing = report._replace(libraries=dict(report.libraries, librbd=report.libraries["librbd"]._replace(
        realpath=os.path.join(evil, "librbd.so.1"))))
    unknown = [c.id for c in report.capabilities if c.status != "yes"]
    need(unknown, "every capability is yes here")
    with pytest.raises(librbd_probe.RequirementError) as info:
        librbd_probe.require(unknown[0], report=failing)
    assert SHOWN in _check([str(info.value)])[0]


def test_live_connection_messages_are_one_line():
    options = live.LiveOptions(conf="/x/" + EVIL + "/ceph.conf")
    for error in ({"stage": "conf", "rc": -2}, {"stage": None, "message": "boom\n\x1b[2J"},
                  {"stage": "connect", "message": "lib says\nFORGED"}):
        message = live.connection_message(error, options)
        _check([message])
        (problem,) = live.live_problems({"error": dict(error, message=message)}, None)
        _check([problem.message])
    assert SHOWN in live.connection_message({"stage": "conf", "rc": -2}, options)


@pytest.mark.parametrize("make", [
    lambda text: model.Problem("p", "error", text, text, (text,)),
    lambda text: model.Capability("c", "unknown", text, (text,)),
    lambda text: model.LibraryReport(name="librbd", found=False, error=text),
    lambda text: model.Candidate("/p", "/p", "default", None, None, True, True, text),
    lambda text: model.RuntimeReport(attempted=True, skipped=text, error={"kind": "load", "message": text}),
    lambda text: consumers.Consumer("/p", "program", error=text, sees=text, skipped=(text,)),
    lambda text: bindings.Binding("rbd", "python3", "/p", "unreadable", note=text),
    lambda text: analyse.Finding("s", "f", text, 1, 1, text, {}, text, (text,), (text,), "src", "c", decides=text,
                                 related=(text,)),
    lambda text: analyse.Explanation("src", {}, (), (text,)),
])
def test_records_escape_their_messages_when_made_and_replaced(make):
    made = make(EVIL)
    texts = list(_strings(made))
    assert SHOWN in texts and EVIL not in texts
    again = make(SHOWN)
    assert again == made                                  # escaping twice changes nothing
    replaced = made._replace(**{made._fields[2]: made[2]})
    assert not [t for t in _strings(replaced) if CONTROL.search(t)]


def test_normal_text_and_tabs_are_left_as_they_are():
    text = "librbd.so.1 has no rbd_create4 (first in 12.2.0)\tsee: ceph.com — é ✓"
    problem = model.Problem("p", "info", text, None, (text,))
    assert problem.message is text and problem.evidence == (text,)
    assert model.line_text(["a", {"k": "b\nc"}]) == ("a", {"k": "b\\nc"})
