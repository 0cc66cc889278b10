"""``explain`` on inputs of every shape: compressed and rotated logs, logs past the old 256 MiB
cap, one line of 100 MB, 100,000 distinct messages, and the rule that a bare errno is read
only together with the lines around it.  Time limits are generous (a shared 2-core machine)
but far below what quadratic matching takes."""
import bz2
import gzip
import io
import json
import lzma
import os
import resource
import subprocess
import sys
import time

import pytest

from conftest import PROJECT, need
from librbd_probe import cli, explain
from librbd_probe import knowledge as kn
from librbd_probe.errors import UsageError
from librbd_probe.explain import matcher

SYMBOL = "ImportError: /usr/lib/python3/dist-packages/rbd.so: undefined symbol: rbd_diff_iterate3"
FILLER = "2024-03-01T10:00:00.000+0000 7f12 20 osd.1 pg[2.1( v 9'1 ) active+clean] do_op rbd_data.1.0000 write 0~4096\n"


def _find(data, name="test"):
    source = explain.Source(name, io.BytesIO(data))
    return explain.find(source)


def _by_sig(occurrences):
    return {(o.sig.id, o.line) for o in occurrences}


# --- compressed and rotated input ---------------------------------------------------------

def _log():
    return (FILLER * 1000 + SYMBOL + "\n" + FILLER * 1000 + "librbd: librbd does not support requested features.\n").encode()


@pytest.mark.parametrize("kind,compress", [("gzip", gzip.compress), ("xz", lzma.compress), ("bzip2", bz2.compress)])
def test_compressed_files_read_like_plain(tmp_path, kind, compress):
    plain = tmp_path / "plain.log"
    plain.write_bytes(_log())
    packed = tmp_path / "rotated.log.1"          # no telling suffix: the magic decides
    packed.write_bytes(compress(_log()))
    expected, _, lines = explain.find(explain.open_path(str(plain)))
    got, notices, got_lines = explain.find(explain.open_path(str(packed)))
    assert _by_sig(got) == _by_sig(expected) == {("loader.undefined-symbol", 1001), ("librbd.unsupported-features", 2002)}
    assert got_lines == lines == 2002 and notices == []


def test_concatenated_gzip_members_are_all_read(tmp_path):
    """logrotate's copytruncate + gzip -c >> appends members: every member is read."""
    path = tmp_path / "ceph-client.log.gz"
    path.write_bytes(gzip.compress((FILLER * 10 + SYMBOL + "\n").encode()) + gzip.compress(
        (FILLER * 10 + "rbd: image foo: image uses unsupported features: 0x38\n").encode()))
    got, notices, lines = explain.find(explain.open_path(str(path)))
    assert _by_sig(got) == {("loader.undefined-symbol", 11), ("krbd.unsupported-features", 22)}
    assert lines == 22


def test_truncated_gzip_says_so(tmp_path):
    data = gzip.compress((SYMBOL + "\n" + FILLER * 20000).encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[:len(data) // 2])
    got, notices, _ = explain.find(explain.open_path(str(path)))
    assert ("loader.undefined-symbol", 1) in _by_sig(got)
    assert len(notices) == 1 and "ends early" in notices[0] and "gzip" in notices[0]


def test_compressed_standard_input_in_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "librbd_probe", "explain", "--no-runtime", "--json"],
                          input=gzip.compress(_log()), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, PYTHONPATH=PROJECT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.decode())
    assert data["source"] == "standard input" and data["lines"] == 2002
    assert {f["signature"] for f in data["findings"]} == {"loader.undefined-symbol", "librbd.unsupported-features"}


def test_compressed_binary_is_still_binary(tmp_path):
    path = tmp_path / "core.gz"
    path.write_bytes(gzip.compress(bytes(range(256)) * 100))
    with pytest.raises(UsageError, match="binary data"):
        explain.open_path(str(path))


# --- size and shape -----------------------------------------------------------------------

def test_error_on_the_last_line_of_a_300_mb_log(tmp_path):
    """The old reader read 256 MiB and ignored the rest; nothing is capped now."""
    path = tmp_path / "big.log"
    block = FILLER.encode() * 10000
    with open(str(path), "wb") as handle:
        for _ in range(300 * 1024 * 1024 // len(block) + 1):
            handle.write(block)
        handle.write(SYMBOL.encode())            # the last line, without a final newline
    lines_before = (300 * 1024 * 1024 // len(block) + 1) * 10000
    start = time.time()
    got, notices, lines = explain.find(explain.open_path(str(path)))
    elapsed = time.time() - start
    assert _by_sig(got) == {("loader.undefined-symbol", lines_before + 1)}
    assert lines == lines_before + 1 and notices == []
    assert elapsed < 60, elapsed


def test_a_100_mb_line_without_newline_finishes_and_says_what_it_examined():
    middle = b"x" * (50 * 1024 * 1024)
    data = b"first line\n" + middle + SYMBOL.encode() + middle + b" librbd does not support requested features."
    start = time.time()
    got, notices, lines = _find(data)
    elapsed = time.time() - start
    assert {o.sig.id for o in got} == {"loader.undefined-symbol", "librbd.unsupported-features"}
    assert all(o.line == 2 for o in got) and lines == 2
    assert len(notices) == 1 and "1 line longer than 65536 bytes" in notices[0] and "line 2" in notices[0]
    assert "{} bytes".format(len(data) - len(b"first line\n")) in notices[0]
    assert elapsed < 30, elapsed


@pytest.mark.parametrize("size", [32 * 1024, 64 * 1024, 1024 * 1024])
def test_long_hostile_lines_are_linear(size):
    """A path-like run before 'undefined symbol' made the old matcher quadratic (64 KiB: 24 s)."""
    line = b"/" + b"a" * size + b": undefined symbol: rbd_foo " + b"/b" * (size // 2) + b"\n"
    start = time.time()
    got, _, _ = _find(line * 4)
    assert time.time() - start < 5
    assert [o.sig.id for o in got] == ["loader.undefined-symbol"] and got[0].count == 4


def test_100000_distinct_matches_in_seconds():
    data = "".join("ImportError: /x/m{0}.so: undefined symbol: rbd_fn_{0}\n".format(i) for i in range(100000)).encode()
    start = time.time()
    got, _, lines = _find(data)
    elapsed = time.time() - start
    assert len(got) == 100000 and lines == 100000
    assert got[-1].line == 100000 and got[-1].groups["symbol"] == "rbd_fn_99999"
    assert elapsed < 30, elapsed


def test_memory_stays_flat_on_a_large_log(tmp_path):
    """Peak RSS of a child reading 200 MB stays within 50 MiB of the bare interpreter's."""
    path = tmp_path / "flat.log"
    block = (FILLER * 5000 + "rbd: map failed: (6) No such device or address\n").encode()
    with open(str(path), "wb") as handle:
        for _ in range(200 * 1024 * 1024 // len(block)):
            handle.write(block)
    code = ("import resource,sys; sys.path.insert(0, {!r}); from librbd_probe import explain; "
            "explain.find(explain.open_path({!r})); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    bare = ("import resource,sys; sys.path.insert(0, {!r}); from librbd_probe import explain; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    used = int(subprocess.check_output([sys.executable, "-c", code.format(PROJECT, str(path))], timeout=300))
    base = int(subprocess.check_output([sys.executable, "-c", bare.format(PROJECT)], timeout=60))
    assert used - base < 50 * 1024, (used, base)      # KiB


# --- deduplication, counts, lines and timestamps ------------------------------------------

def test_findings_are_counted_with_first_and_last_line_and_time():
    lines = ["2019-05-02 11:03:27.571 7f3b -1 librbd: librbd does not support requested features.",
             FILLER.strip(),
             "2019-05-02 11:09:01.002 7f3b -1 librbd: librbd does not support requested features.",
             "2019-05-02 11:10:00.000 7f3b -1 librbd: librbd does not support requested features."]
    got, _, _ = _find("\n".join(lines).encode())
    assert len(got) == 1
    occ = got[0]
    assert (occ.count, occ.line, occ.last_line) == (3, 1, 4)
    assert (occ.first_time, occ.last_time) == ("2019-05-02 11:03:27.571", "2019-05-02 11:10:00.000")


def test_timestamps_of_the_usual_formats():
    for line, stamp in (("Mar  1 10:00:00 host kernel: [ 1.0] rbd: image x: image uses unsupported features: 0x38", "Mar  1 10:00:00"),
                        ("[ 4186.766150] rbd: image vol0: image uses unsupported features: 0x38", "4186.766150"),
                        ("W0503 03:57:07.621582 2218477 rbd: image x: image uses unsupported features: 0x38", "0503 03:57:07.621582")):
        got, _, _ = _find(line.encode())
        assert got[0].first_time == stamp


# --- context before errno -----------------------------------------------------------------

def test_bare_errno_is_folded_into_the_message_before_it():
    text = ("librados: client.client.lxd authentication error (1) Operation not permitted\n"
            "rbd: couldn't connect to the cluster!\nrbd: map failed: (22) Invalid argument\n")
    got, _, _ = _find(text.encode())
    assert [o.sig.id for o in got] == ["auth.doubled-prefix"]
    assert any("(22) Invalid argument" in r for r in got[0].related)


def test_bare_errno_is_folded_into_the_kernel_lines_after_it():
    text = ("rbd: map failed: (110) Connection timed out\n\n"
            "[62023.257916] libceph: mon0 172.21.21.217:3300 socket closed (con state CONNECTING)\n")
    got, _, _ = _find(text.encode())
    assert [o.sig.id for o in got] == ["msgr.v2-port-closed"]


def test_bare_errno_far_from_any_message_stays_undecided():
    text = "librbd: librbd does not support requested features.\n" + FILLER * (matcher.BEFORE + 2) + \
        "rbd: create error: (22) Invalid argument\n"
    got, _, _ = _find(text.encode())
    assert [o.sig.id for o in got] == ["librbd.unsupported-features", "errno.error-code"]


def test_different_request_ids_are_not_related():
    text = ("2018 ERROR cinder [req-aaaaaaaa-1111] librbd does not support requested features\n"
            "2018 ERROR cinder [req-bbbbbbbb-2222] failed: error code 22\n")
    got, _, _ = _find(text.encode())
    assert {o.sig.id for o in got} == {"librbd.unsupported-features", "errno.error-code"}


def test_bare_errno_alone_is_never_confident(installed, capsys):
    for text in ("rbd: map failed: (22) Invalid argument", "rados: ret=-95, Operation not supported",
                 "rbd: remove failed: (1) Operation not permitted"):
        assert cli.main(["explain", "--json", "--no-runtime", text]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [f["confidence"] for f in data["findings"]] == ["undecided"], text
        assert data["findings"][0]["decides"]


# --- the prefilter lets every real message through ------------------------------------------

def _field_lines():
    import glob
    for path in sorted(glob.glob(os.path.join(PROJECT, "tests", "data", "field", "*.json"))):
        with open(path, encoding="utf-8") as handle:
            case = json.load(handle)
        for line in case["text"].splitlines():
            yield case["id"], line


def test_prefilter_passes_every_line_a_signature_matches():
    """Run every signature's patterns on every field line directly, without the prefilter: each
    line they match must also pass the prefilter (else the engine would never see it)."""
    import re
    compiled = explain.compiled()
    patterns = [(s.id, re.compile(p)) for s in kn.error_signatures() for p in s.patterns]
    checked = 0
    for case_id, line in _field_lines():
        for part in explain.normalise(line)[0].split("\n"):
            for sig_id, rx in patterns:
                if rx.search(part):
                    checked += 1
                    assert compiled.line_passes(line), (case_id, sig_id, line[:200])
    assert checked > 50


# --- the JSON schema of explain --json ------------------------------------------------------

def test_json_output_validates_against_the_schema(installed, tmp_path, capsys):
    try:
        import jsonschema
    except ImportError:
        need(False, "jsonschema not installed (pip install jsonschema; tox installs it)")
    with open(os.path.join(PROJECT, "librbd_probe", "schemas", "explain.schema.json"), encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    log = tmp_path / "mixed.log.gz"
    log.write_bytes(gzip.compress((_log().decode() + "\n".join(text for _, text in list(_field_lines())[:400])).encode()))
    outputs = []
    for argv in (["--file", str(log)], ["nothing to see here"], ["rbd: map failed: (22) Invalid argument"]):
        code = cli.main(["explain", "--json", "--no-runtime"] + argv)
        outputs.append((code, json.loads(capsys.readouterr().out)))
    assert [code for code, _ in outputs] == [0, cli.EXIT_NO_MATCH, 0]
    assert len(outputs[0][1]["findings"]) > 10
    for _, doc in outputs:
        errors = list(validator.iter_errors(doc))
        assert not errors, [e.message[:200] for e in errors[:5]]
    broken = dict(outputs[2][1], findings=[dict(outputs[2][1]["findings"][0], confidence="certain")])
    assert list(validator.iter_errors(broken))


def test_eperm_after_connecting_is_caps_not_authentication(installed, capsys):
    text = ("$ rbd --id cinder -p volumes ls\nrbd: error opening pool 'volumes': (1) Operation not permitted\n")
    assert cli.main(["explain", "--json", "--no-runtime", text]) == 0
    finding = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["signature"], f["cause_id"], f["confidence"]) for f in finding] == [("caps.denied", "missing-caps", "medium")]
    assert "ceph auth get client.cinder" in finding[0]["decides"]
    # the same errno from an authentication failure is not caps
    text = ("librados: client.cinder authentication error (1) Operation not permitted\n"
            "rbd: error opening pool 'volumes': (1) Operation not permitted\n")
    assert cli.main(["explain", "--json", "--no-runtime", text]) == 0
    finding = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["signature"], f["confidence"]) for f in finding] == [("auth.error", "undecided")]
    assert "missing-caps" not in finding[0]["candidates"]


def test_keyring_named_for_another_entity():
    text = ("$ ceph --cluster ceph --name client.bootstrap-mds --keyring /etc/ceph/ceph.client.admin.keyring health\n"
            "2015-07-16 16:20:14.168684 7f95b6028700 0 librados: client.bootstrap-mds authentication error (1) "
            "Operation not permitted\n")
    from librbd_probe import scan
    result = explain.explain(scan.scan(runtime=False), text)
    assert [(f.cause_id, f.confidence) for f in result.findings] == [("keyring-of-another-entity", "medium")]
    assert "named for client.admin" in " ".join(result.findings[0].evidence)


# --- decompression bombs: bounded by the ratio, stopped with a notice -----------------------

def _write_bomb(path, kind, size=2 << 30):
    """A real bomb: an error line, ``size`` bytes of "x" (2 GiB), another error line, as
    concatenated members/streams (gzip -c >> and logrotate make them; every reader takes them):
    one block of 64 MiB compressed once and written size / 64 MiB times."""
    compress = {"gzip": lambda data: gzip.compress(data, 6), "xz": lzma.compress, "bzip2": bz2.compress}[kind]
    block = compress(b"x" * (64 << 20))
    with open(str(path), "wb") as handle:
        handle.write(compress((FILLER * 10 + SYMBOL + "\n").encode()))
        for _ in range(size // (64 << 20)):
            handle.write(block)
        handle.write(compress(b"\nrbd: image foo: image uses unsupported features: 0x38\n"))


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2"])
def test_a_decompression_bomb_is_stopped_with_a_notice(tmp_path, kind):
    """2 GiB from a file of a few KB (bzip2) to 2 MB (gzip): read up to reader.RATIO_FLOOR, then
    stopped (more than MAX_RATIO bytes per compressed byte), in seconds and bounded memory; the
    error before the bomb is explained, the one after it is not, and the notice says so."""
    import peakrss
    from librbd_probe.explain import reader
    bomb = tmp_path / "ceph-client.log.1"
    _write_bomb(bomb, kind)
    assert os.path.getsize(str(bomb)) * reader.MAX_RATIO < 2 << 30
    rss_path = str(tmp_path / "rss")
    env = dict(os.environ, PYTHONPATH=PROJECT)
    started = time.time()
    proc = subprocess.run(peakrss.launcher_argv(rss_path, [sys.executable, "-m", "librbd_probe", "explain",
                                                           "--no-runtime", "--json", "--file", str(bomb)]),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=120)
    elapsed = time.time() - started
    peak_mib = peakrss.read_report(rss_path) / 1024.0
    assert proc.returncode == cli.EXIT_OK and proc.stderr == b"", proc.stderr
    assert elapsed < 30, elapsed                 # 2 GiB read to its end: minutes
    assert peak_mib < 100, peak_mib
    result = json.loads(proc.stdout.decode())
    assert [f["signature"] for f in result["findings"]] == ["loader.undefined-symbol"]
    (notice,) = result["notices"]
    assert notice.startswith("the {} stream of {} expands more than 500 times its compressed size (".format(
        kind, bomb)) and "reading stopped there as for a decompression bomb" in notice and "\n" not in notice


def test_a_bomb_on_standard_input_is_stopped_too(tmp_path):
    from librbd_probe.explain import reader
    bomb = tmp_path / "bomb.xz"
    _write_bomb(bomb, "xz", size=256 << 20)
    with open(str(bomb), "rb") as handle:
        got, notices, _ = explain.find(explain.open_stream(handle))
    assert [o.sig.id for o in got] == ["loader.undefined-symbol"]
    assert len(notices) == 1 and "standard input expands more than {} times".format(reader.MAX_RATIO) in notices[0]


@pytest.mark.parametrize("kind,compress", [
    ("gzip", gzip.compress), ("xz", lzma.compress), ("xz -1", lambda data: lzma.compress(data, preset=1)),
    ("bzip2", bz2.compress)])
def test_a_log_that_compresses_well_is_read_whole(tmp_path, kind, compress):
    """One message repeated a million times with millisecond timestamps (the most
    compressible log measured: xz -1 330x, xz 215x, bzip2 147x, gzip 35x) stays under the ratio
    past the floor: read to its end, no notice, the error on its last line found."""
    from librbd_probe.explain import reader
    count = 1000000
    data = ("".join("2026-12-02T{:02d}:{:02d}:{:02d}.{:03d}+0000 7f6d66c1bd80 20 osd.1 pg[2.1( v 9'1 ) "
                    "active+clean] do_op write\n".format(i // 3600000, i // 60000 % 60, i // 1000 % 60, i % 1000)
                    for i in range(count)) + SYMBOL + "\n").encode()
    packed = tmp_path / "flood.log.1"
    packed.write_bytes(compress(data))
    assert len(data) > reader.RATIO_FLOOR and len(data) / os.path.getsize(str(packed)) > 30
    got, notices, lines = explain.find(explain.open_path(str(packed)))
    assert notices == [] and lines == count + 1
    assert ("loader.undefined-symbol", count + 1) in _by_sig(got)


def test_plain_files_are_never_bounded_by_the_ratio(tmp_path, monkeypatch):
    from librbd_probe.explain import reader
    monkeypatch.setattr(reader, "RATIO_FLOOR", 1 << 16)
    plain = tmp_path / "x.log"
    plain.write_bytes((FILLER * 10).encode() + b"x" * (4 << 20) + ("\n" + SYMBOL + "\n").encode())
    got, notices, _ = explain.find(explain.open_path(str(plain)))
    assert notices == [] and "loader.undefined-symbol" in {o.sig.id for o in got}


def test_text_output_shows_the_notice_when_nothing_was_found(tmp_path, capsys):
    """The text answer without findings printed no notes: a stopped bomb (or a truncated
    stream) with nothing found before it read as "no known signature" alone."""
    bomb = tmp_path / "bomb.log.xz"
    block = lzma.compress(b"x" * (64 << 20))
    bomb.write_bytes(lzma.compress((FILLER * 10).encode()) + block * 4)
    code = cli.main(["explain", "--no-runtime", "--file", str(bomb)])
    out = " ".join(capsys.readouterr().out.split())          # the text is wrapped
    assert code == cli.EXIT_NO_MATCH
    assert "No known Ceph RBD client error signature" in out
    assert "note: the xz stream of {} expands more than 500 times".format(bomb) in out
    truncated = tmp_path / "cut.log.gz"
    truncated.write_bytes(gzip.compress((FILLER * 30000).encode())[:-20])     # 3 MB: past the first chunk
    assert cli.main(["explain", "--no-runtime", "--file", str(truncated)]) == cli.EXIT_NO_MATCH
    assert "note: the gzip stream of {} ends early".format(truncated) in " ".join(capsys.readouterr().out.split())
