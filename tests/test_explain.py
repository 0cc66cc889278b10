"""``explain``: the article's Cinder log on a host like the article's, every signature family
with a realistic message, and bad input.  Evidence comes from real or stand-in libraries."""
import io
import json
import os
import re
import sys

import pytest

import stubs
from conftest import PROJECT
from librbd_probe import cli, explain, kb

ARTICLE = os.path.join(PROJECT, "tests", "data", "seed-article.md")   # verbatim copy, see seed-article.SOURCE.md


def _article_log():
    """The Cinder scheduler log of the article, verbatim (its first fenced block)."""
    path = ARTICLE
    if not os.path.exists(path):
        pytest.skip("the seed article is not available")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"```\n(2018-07-09 08:49.*?)```", text, re.S).group(1)
    assert "FunctionNotSupported: error creating image" in block
    return block


def _explain_json(capsys, argv):
    code = cli.main(["explain", "--json"] + argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _finding(data, signature):
    found = [f for f in data["findings"] if f["signature"] == signature]
    assert found, [f["signature"] for f in data["findings"]]
    return found[0]


@pytest.fixture(scope="module")
def giant(tmp_path_factory):
    """The article's host: a 0.87 (giant) client whose ceph.conf asks for features 61."""
    librbd, librados = stubs.build_release_standin("0.87")
    conf = tmp_path_factory.mktemp("giant") / "ceph.conf"
    conf.write_text("[global]\nmon host = 192.0.2.1\n[client]\nrbd default features = 61\n")
    log = tmp_path_factory.mktemp("log") / "scheduler.log"
    log.write_text(_article_log())
    return ["--librbd", librbd, "--librados", librados, "--conf", str(conf)], str(log)


def test_article_log_on_article_host(giant, capsys):
    options, log = giant
    code, data, err = _explain_json(capsys, options + ["--file", log])
    assert code == 0, err
    assert data["schema_version"] == 1 and data["matched"] is True
    finding = _finding(data, "create.enosys")
    assert finding["line"] == 1
    evidence = " ".join(finding["evidence"])
    # the binding and the caller, read from the repr'd traceback
    assert "/usr/lib/python2.7/site-packages/rbd.py (line 219, create)" in evidence
    assert "Cinder" in evidence
    # the host: the configured mask and what this 0.87 librbd does not know
    features = {f["name"]: f for f in kb.features()}
    unknown = [n for n in ("exclusive-lock", "object-map", "fast-diff", "deep-flatten")]
    assert "rbd default features = 61 = 0x3d" in evidence
    assert "of these, {} (0x3c) are unknown to this librbd".format(", ".join(unknown)) in evidence
    fixes = " ".join(finding["fix"])
    newest = max((features[n]["first"] for n in unknown), key=lambda v: tuple(int(p) for p in v.split(".")))
    assert "to Ceph {}".format(newest) in fixes
    assert "`rbd default features = 1` (layering)" in fixes
    # only this one finding: the scheduler's "No valid host" line is not an RBD error
    assert [f["signature"] for f in data["findings"]] == ["create.enosys"]


def test_article_log_on_this_host_says_the_opposite(installed, tmp_path, capsys):
    """Same log on pacific with the same ceph.conf: every feature is known here."""
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = 61\n")
    log = tmp_path / "scheduler.log"
    log.write_text(_article_log())
    code, data, _ = _explain_json(capsys, ["--no-runtime", "--conf", str(conf), "--file", str(log)])
    assert code == 0
    evidence = " ".join(_finding(data, "create.enosys")["evidence"])
    assert "every configured feature is known to this librbd" in evidence
    assert "16.2.15" in evidence


def test_article_text_output_fits_and_reads(giant, capsys):
    options, log = giant
    assert cli.main(["explain"] + options + ["--file", log]) == 0
    out = capsys.readouterr().out
    assert "cause:" in out and "on this host:" in out and "fix:" in out
    assert not [line for line in out.splitlines() if len(line) > 80]


def test_json_is_deterministic(giant, capsys):
    options, log = giant
    first = cli.main(["explain", "--json"] + options + ["--file", log]), capsys.readouterr().out
    second = cli.main(["explain", "--json"] + options + ["--file", log]), capsys.readouterr().out
    assert first == second
    assert json.dumps(json.loads(first[1]), indent=2, sort_keys=True) + "\n" == first[1]


# --- each family with a realistic message, explained on this host -----------------------------

FAMILIES = [
    ("binding.format2-unsupported",
     "FunctionNotSupported: installed version of librbd does not support format 2 images",
     "exports rbd_create2: the failing process loaded a different librbd"),
    ("binding.striping-unsupported",
     "rbd.FunctionNotSupported: installed version of librbd does not support stripe unit or count",
     "exports rbd_create3"),
    ("create.enosys",
     "rbd.FunctionNotSupported: [errno 38] RBD function not supported (error creating image)",
     "it knows feature bits 0x"),
    ("librbd.unsupported-features",
     "2019-05-02 11:03:27.571 7f3b2effd700 -1 librbd: librbd does not support requested features.",
     "it knows feature bits 0x"),
    ("create.format1-refused",
     "2020-01-10 09:00:01.000 7f00 -1 librbd: Format 1 image creation unsupported.",
     "refuses format 1 creation"),
    ("create.einval",
     "rbd.InvalidArgument: [errno 22] RBD invalid argument (error creating image)",
     "refuses format 1 creation"),
    ("binding.format1-features",
     "InvalidArgument: format 1 images do not support feature masks or non-default striping",
     ""),
    ("loader.undefined-symbol",
     "ImportError: /usr/lib/python3/dist-packages/rbd.cpython-313-x86_64-linux-gnu.so: undefined symbol: rbd_diff_iterate3",
     "does not export rbd_diff_iterate3"),
    ("loader.undefined-symbol",
     "qemu-system-x86_64: symbol lookup error: /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so: undefined symbol: rados_ioctx_get_id",
     "exports rados_ioctx_get_id"),
    ("loader.missing-library",
     "OSError: librados.so.2: cannot open shared object file: No such file or directory",
     "the loader finds librados at"),
    ("krbd.unsupported-features",
     "[ 4321.123456] rbd: image vol1: image uses unsupported features: 0x38",
     "object-map, fast-diff, deep-flatten"),
    ("krbd.feature-set-mismatch",
     'rbd: sysfs write failed\nRBD image feature set mismatch. You can disable features unsupported by the kernel '
     'with "rbd feature disable rbd_pool/volume1 object-map fast-diff deep-flatten".\nIn some cases useful info is '
     'found in syslog - try "dmesg | tail".\nrbd: map failed: (6) No such device or address',
     "rbd suggests disabling object-map, fast-diff, deep-flatten (0x38)"),
    ("libceph.feature-set-mismatch",
     "[ 12.345678] libceph: mon0 10.0.0.1:6789 feature set mismatch, my 106b84a842a42 < server's 40106b84a842a42, "
     "missing 400000000000000",
     "missing bit 58 = CRUSH_TUNABLES5"),
    ("errno.error-code", "rbd: create error: (38) Function not implemented", "38 = ENOSYS"),
    ("errno.error-code", "qemu-img: error connecting: error code 110", "110 = ETIMEDOUT"),
    ("errno.error-code", "librbd::image::OpenRequest: failed to open image: ret=-13", "13 = EACCES"),
]


@pytest.mark.parametrize("signature,text,expected", FAMILIES, ids=["{}-{}".format(i, f[0]) for i, f in enumerate(FAMILIES)])
def test_family_on_this_host(installed, capsys, signature, text, expected):
    code, data, err = _explain_json(capsys, ["--no-runtime", text])
    assert code == 0, err
    finding = _finding(data, signature)
    assert finding["cause"] and finding["fix"] and finding["source"]
    assert expected in " ".join(finding["evidence"]), finding["evidence"]
    # nothing but the family itself is reported for a single realistic message
    assert {f["signature"] for f in data["findings"]} == {signature}


def test_undefined_symbol_against_an_older_library(capsys):
    """The 16.2.15 binding on a 14.2.21 host: name the release that brought the symbol."""
    from corpus import library
    librbd, librados = library("14.2.21", "librbd"), library("14.2.21", "librados")
    text = ("ImportError: /usr/lib/python3/dist-packages/rbd.cpython-311-x86_64-linux-gnu.so: "
            "undefined symbol: rbd_encryption_format")
    code, data, _ = _explain_json(capsys, ["--no-runtime", "--librbd", librbd, "--librados", librados, text])
    assert code == 0
    finding = _finding(data, "loader.undefined-symbol")
    entry = kb.symbols("librbd")["symbols"]["rbd_encryption_format"]
    evidence = " ".join(finding["evidence"])
    # 16.2.15 is the first build known to have it (Debian); the exact release is not verified
    assert "first released by Ceph {}".format(entry["first"]) in evidence and "not verified" in evidence
    assert "does not export rbd_encryption_format" in evidence and "14.2" in evidence
    assert "how: a Python extension module failed at import" in evidence
    assert any("to Ceph {}".format(entry["first"]) in fix for fix in finding["fix"])


def test_krbd_mask_against_a_kernel_that_knows_only_layering(installed, tmp_path, capsys):
    sysfs = tmp_path / "sys"
    (sysfs / "bus" / "rbd").mkdir(parents=True)
    (sysfs / "bus" / "rbd" / "supported_features").write_text("0x1\n")
    code, data, _ = _explain_json(capsys, ["--no-runtime", "--sysfs", str(sysfs),
                                           "rbd: image foo: image uses unsupported features: 0x3c"])
    assert code == 0
    finding = _finding(data, "krbd.unsupported-features")
    evidence = " ".join(finding["evidence"])
    assert "this host's kernel supports 0x1 (layering)" in evidence
    assert "would reject exclusive-lock, object-map, fast-diff, deep-flatten (0x3c)" in evidence
    assert "rbd feature disable POOL/IMAGE deep-flatten fast-diff object-map exclusive-lock" in finding["fix"]


def test_libceph_names_the_running_kernel(capsys):
    text = "libceph: mon0 10.0.0.1:6789 feature set mismatch, my 4a042a42 < server's 2004a042a42, missing 20000000000"
    code, data, _ = _explain_json(capsys, ["--no-runtime", text])
    assert code == 0
    evidence = " ".join(_finding(data, "libceph.feature-set-mismatch")["evidence"])
    assert "missing bit 41 = CRUSH_TUNABLES3/OSD_PRIMARY_AFFINITY: needs Linux 3.15" in evidence
    assert os.uname().release in evidence


def test_missing_library_on_an_empty_root(tmp_path, capsys):
    code, data, _ = _explain_json(capsys, ["--root", str(tmp_path),
                                           "ImportError: librbd.so.1: cannot open shared object file: No such file or directory"])
    assert code == 0
    evidence = " ".join(_finding(data, "loader.missing-library")["evidence"])
    assert "this host has no librbd where the loader looks" in evidence


def test_errno_text_must_be_the_real_strerror(installed, capsys):
    # "(3) Something" is not errno 3's text: no finding, exit 4
    code, data, _ = _explain_json(capsys, ["--no-runtime", "step (3) Something happened"])
    assert code == cli.EXIT_NO_MATCH == 4
    assert data["matched"] is False and data["findings"] == []


def test_repeated_messages_are_counted_once(installed, capsys):
    line = "librbd: librbd does not support requested features.\n"
    code, data, _ = _explain_json(capsys, ["--no-runtime", line * 3])
    assert code == 0 and len(data["findings"]) == 1 and data["findings"][0]["count"] == 3


def test_standard_input(installed, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        b"rbd.InvalidArgument: [errno 22] RBD invalid argument (error creating image)\n")))
    code, data, _ = _explain_json(capsys, ["--no-runtime"])
    assert code == 0 and data["source"] == "standard input"
    _finding(data, "create.einval")


# --- pure helpers ---------------------------------------------------------------------------

def test_repr_list_traceback_is_unfolded():
    text = ("2018 ERROR x [u'Traceback (most recent call last):\\n', u'  File \"/a/rbd.py\", line 9, in create\\n"
            "    raise make_ex(ret, \\'error creating image\\')\\n', u'FunctionNotSupported: error creating image\\n']\n"
            "next line\n")
    norm, line_of = explain.normalise(text)
    lines = norm.split("\n")
    assert "  File \"/a/rbd.py\", line 9, in create" in lines
    assert "    raise make_ex(ret, 'error creating image')" in lines
    assert line_of[lines.index("next line")] == 2
    assert all(n == 1 for n in line_of[:lines.index("next line")])


# --- bad input: one line, documented exit code, never a traceback ----------------------------

def _bad(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "garbage").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "empty.log").write_bytes(b"")
    return {
        "missing-file": (["--file", str(tmp_path / "nope.log")], "does not exist"),
        "directory": (["--file", str(tmp_path / "dir")], "is a directory"),
        "binary": (["--file", str(tmp_path / "garbage")], "binary data"),
        "empty-file": (["--file", str(tmp_path / "empty.log")], "empty input"),
        "text-and-file": (["--file", str(tmp_path / "empty.log"), "some text"], "not both"),
        "bad-option": (["--frobnicate"], "unrecognized arguments"),
    }


@pytest.mark.parametrize("case", ["missing-file", "directory", "binary", "empty-file", "text-and-file", "bad-option"])
def test_bad_input(tmp_path, capsys, case):
    argv, words = _bad(tmp_path)[case]
    assert cli.main(["explain", "--no-runtime"] + argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and words in captured.err and "Traceback" not in captured.err


def test_empty_and_binary_stdin_in_a_real_process():
    for data, words in ((b"", "empty input"), (b"\x7fELF\x02\x01\x01\x00" + bytes(200), "binary data")):
        proc = run_cli_input(["explain", "--no-runtime"], data)
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.decode("utf-8", "replace")
        assert words in err and "Traceback" not in err and err.count("\n") == 1


def run_cli_input(args, data):
    import subprocess
    env = dict(os.environ, PYTHONPATH=PROJECT)
    return subprocess.run([sys.executable, "-m", "librbd_probe"] + args, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=120)
