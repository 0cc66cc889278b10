"""The end-to-end hostile-input table (issue 13): every row runs the real CLI in a subprocess.

Each row builds its hostile input at test time (sparse files by truncate, FIFOs by mkfifo,
copies of the real installed librbd patched at offsets that readelf reports, an ld.so.cache
written by the real ldconfig and then corrupted, cephx keys made by ceph-authtool) and asserts,
for the child process:

* no traceback and no "internal error" (a bug caught by main() is still a failure here);
* the exit code the README documents for that input;
* stderr: at most one line per error, every line starting with ``librbd-probe`` (a value that
  carries a newline cannot forge a line of its own), no ESC, no raw control character;
* wall time under the row's bound (the child is killed past it) and peak RSS under the row's
  bound (``os.wait4``'s ``ru_maxrss``: the child and every descendant it waited for, so the
  runtime probe's child counts too);
* no cephx key of the test (nor any the row adds) anywhere in stdout or stderr;
* for garbage rows, no success: a non-zero exit, or nothing claimed (every capability unknown).

The rows of the issue's "Why" table come first (their fixes live in locate, elf, config and
the CLI), then the rows this table adds (saved reports, output files, names with control
characters, keys in echoed values).
"""
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import INSTALLED, PROJECT, need

MiB = 1 << 20
GiB = 1 << 30
INJECTED = "librbd-probe: error: INJECTED all is well"
ESC = "\x1b[31m"


# --------------------------------------------------------------------------- running the CLI

class Run(object):
    def __init__(self, code, out, err, seconds, rss_kib):
        self.code, self.out, self.err, self.seconds, self.rss_kib = code, out, err, seconds, rss_kib

    @property
    def rss_mib(self):
        return self.rss_kib / 1024.0

    def __repr__(self):
        return "exit {} in {:.2f} s, {:.0f} MiB; stderr {!r}; stdout {!r}".format(
            self.code, self.seconds, self.rss_mib, self.err[-800:], self.out[:300])


def run_cli(args, env=None, timeout=20.0, stdin=None, close_stdout=False, cwd=None):
    """The CLI in a child (own session, so a timeout kills the runtime grandchild too);
    exit code, output, wall time and peak RSS from os.wait4."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = PROJECT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("LIBRBD_PROBE_DEBUG", None)
    full_env.pop("LIBRBD_PROBE_LIBRBD", None)
    full_env.pop("LIBRBD_PROBE_LIBRADOS", None)
    full_env.pop("CEPH_CONF", None)
    if env:
        full_env.update(env)
    argv = [sys.executable, "-m", "librbd_probe"] + list(args)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        stdin_arg = subprocess.DEVNULL if stdin is None else subprocess.PIPE
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=stdin_arg, stdout=subprocess.PIPE if close_stdout else out,
                                stderr=err, env=full_env, start_new_session=True, cwd=cwd or PROJECT)
        if close_stdout:
            proc.stdout.close()             # the reader went away before the first write (| head)
        if stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        status = rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                out.seek(0)
                err.seek(0)
                pytest.fail("{} still running after {} s (killed); stderr so far {!r}".format(
                    argv[3:], timeout, err.read()[-500:]))
            time.sleep(0.01)
        seconds = time.monotonic() - start
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
        proc.returncode = code              # reaped here: Popen must not wait for it again
        out.seek(0)
        err.seek(0)
        return Run(code, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                   seconds, rusage.ru_maxrss)


def check(run, codes, seconds, rss_mib, secrets=(), garbage=False, err_lines=1, says=None, out_says=None,
          problem_says=None, any_says=None):
    """The assertions every row shares (module docstring)."""
    assert "Traceback" not in run.err and "Traceback" not in run.out, run
    assert "internal error" not in run.err, run
    assert run.code in codes, run
    lines = run.err.splitlines()
    assert len(lines) <= err_lines, run
    for line in lines:
        assert line.startswith("librbd-probe"), ("a stderr line not written by the CLI's error path", run)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", line), ("raw control character", run)
    assert not run.err.endswith("\n\n"), run
    assert "\x1b" not in run.out, ("an ESC reached standard output", run)
    for line in run.out.splitlines() + lines:
        assert not line.lstrip().startswith(INJECTED), ("a line forged by a value", run)
    assert run.seconds < seconds, ("slower than the row's bound {} s".format(seconds), run)
    assert run.rss_mib < rss_mib, ("peak RSS over the row's bound {} MiB".format(rss_mib), run)
    for secret in secrets:
        assert secret not in run.out and secret not in run.err, ("a cephx key was printed", run)
        assert secret[:-2] not in run.out and secret[:-2] not in run.err, ("a cephx key was printed", run)
    if garbage:
        assert not _success(run), ("garbage reported as success", run)
    if says:
        assert re.search(says, run.err, re.I), ("stderr does not say {!r}".format(says), run)
    if out_says:
        assert re.search(out_says, run.out, re.I), ("stdout does not say {!r}".format(out_says), run)
    if any_says:
        assert re.search(any_says, run.err + run.out, re.I), ("neither stream says {!r}".format(any_says), run)
    if problem_says:
        problems = json.loads(run.out).get("problems") or []
        text = "\n".join("{} {} {}".format(p.get("id"), p.get("message"), p.get("evidence")) for p in problems)
        assert re.search(problem_says, text, re.I), ("no problem of the report says {!r}".format(problem_says), run)


def _success(run):
    """Success on garbage: exit 0 with a capability claimed (``yes`` or ``no``: both are claims)."""
    if run.code != 0:
        return False
    try:
        doc = json.loads(run.out)
    except ValueError:
        return True
    return any(c.get("status") in ("yes", "no") for c in (doc.get("capabilities") or {}).values())


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def libs():
    for path in INSTALLED.values():
        need(os.path.exists(path), "{} not installed (apt-get install librbd1 librados2)".format(path))
    return {k: os.path.realpath(v) for k, v in INSTALLED.items()}


@pytest.fixture(scope="module")
def keys():
    """Real cephx keys (ceph-authtool --gen-print-key): what must never be printed."""
    need(shutil.which("ceph-authtool"), "ceph-authtool not installed (apt-get install ceph-common)")
    out = []
    for _ in range(3):
        key = subprocess.run(["ceph-authtool", "--gen-print-key"], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout.strip()
        assert re.match(r"^AQ[A-Za-z0-9+/]{36}==$", key), key
        out.append(key)
    return out


def _link_or_copy(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def make_root(base, libs, cache=True):
    """A --root tree with the installed librbd, librados and libceph-common (hard links), an
    etc/ld.so.conf naming the multiarch directory and, when ``cache``, the ld.so.cache the
    real ldconfig writes for it."""
    root = os.path.join(str(base), "root")
    lib = os.path.join(root, "usr", "lib", "x86_64-linux-gnu")
    _link_or_copy(libs["librbd"], os.path.join(lib, "librbd.so.1"))
    _link_or_copy(libs["librados"], os.path.join(lib, "librados.so.2"))
    _link_or_copy(libs["libceph-common"], os.path.join(lib, "ceph", "libceph-common.so.2"))
    os.makedirs(os.path.join(root, "etc", "ld.so.conf.d"), exist_ok=True)
    with open(os.path.join(root, "etc", "ld.so.conf"), "w") as handle:
        handle.write("include /etc/ld.so.conf.d/*.conf\n")
    with open(os.path.join(root, "etc", "ld.so.conf.d", "x86_64-linux-gnu.conf"), "w") as handle:
        handle.write("/usr/lib/x86_64-linux-gnu\n")
    if cache:
        need(shutil.which("ldconfig"), "ldconfig not found")
        subprocess.run(["ldconfig", "-r", root], check=True)
        assert os.path.getsize(os.path.join(root, "etc", "ld.so.cache")) > 48
    return root


def readelf_sections(path):
    """{name: (offset, size)} of the section headers, as readelf -SW prints them."""
    need(shutil.which("readelf"), "readelf not installed (binutils)")
    out = subprocess.run(["readelf", "-SW", path], stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    found = {}
    for match in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", out):
        found[match.group(1)] = (int(match.group(2), 16), int(match.group(3), 16))
    assert ".dynamic" in found and ".gnu.version_r" in found, out[:2000]
    return found


def patched_copy(libs, tmp_path, name="librbd.so.1"):
    dst = str(tmp_path / name)
    shutil.copy(libs["librbd"], dst)
    return dst


def dynamic_entries(path):
    """[(file offset of the entry, d_tag, d_val)] of .dynamic (ELF64 little-endian)."""
    offset, size = readelf_sections(path)[".dynamic"]
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    return [(offset + i, ) + struct.unpack_from("<qQ", data, i) for i in range(0, size, 16)]


def poke(path, offset, fmt, *values):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(struct.pack(fmt, *values))


def sparse(path, size):
    subprocess.run(["truncate", "-s", str(size), path], check=True)


DT_STRSZ, DT_VERNEEDNUM, PT_DYNAMIC = 10, 0x6fffffff, 2


# --------------------------------------------------------------------- builders of the rows
# Each returns dict(args=[...], env={...}, stdin=bytes|None) for run_cli.

def ldcache_offset_past_end(tmp_path, libs, keys):
    root = make_root(tmp_path, libs)
    cache = os.path.join(root, "etc", "ld.so.cache")
    with open(cache, "rb") as handle:
        data = handle.read()
    assert data.startswith(b"glibc-ld.so.cache1.1"), data[:32]
    nlibs, = struct.unpack_from("<I", data, 20)
    assert nlibs >= 2
    for index in range(nlibs):                      # every entry's key string offset past the end
        poke(cache, 48 + 24 * index + 4, "<I", len(data) + 0x1000 * (index + 1))
    return dict(args=["--root", root, "--json"])


def random_ldcache(tmp_path, libs, keys):
    root = make_root(tmp_path, libs, cache=False)
    with open(os.path.join(root, "etc", "ld.so.cache"), "wb") as handle:
        handle.write(os.urandom(4096))
    return dict(args=["--root", root, "--json"])


def truncated_ldcache(tmp_path, libs, keys):
    root = make_root(tmp_path, libs)
    cache = os.path.join(root, "etc", "ld.so.cache")
    size = os.path.getsize(cache)
    with open(cache, "r+b") as handle:
        handle.truncate(size // 2)
    return dict(args=["--root", root, "--json"])


def sparse_ldcache_1g(tmp_path, libs, keys):
    root = make_root(tmp_path, libs)
    sparse(os.path.join(root, "etc", "ld.so.cache"), GiB)
    return dict(args=["--root", root, "--json"])


def fifo_ldcache(tmp_path, libs, keys):
    root = make_root(tmp_path, libs, cache=False)
    os.mkfifo(os.path.join(root, "etc", "ld.so.cache"))
    return dict(args=["--root", root, "--json"])


def fifo_ldsoconf(tmp_path, libs, keys):
    root = make_root(tmp_path, libs, cache=False)
    os.unlink(os.path.join(root, "etc", "ld.so.conf"))
    os.mkfifo(os.path.join(root, "etc", "ld.so.conf"))
    return dict(args=["--root", root, "--json"])


def fifo_confd_entry(tmp_path, libs, keys):
    root = make_root(tmp_path, libs, cache=False)
    os.mkfifo(os.path.join(root, "etc", "ld.so.conf.d", "zz-fifo.conf"))
    return dict(args=["--root", root, "--json"])


def confd_include_loop(tmp_path, libs, keys):
    root = make_root(tmp_path, libs, cache=False)
    for index in range(10):
        with open(os.path.join(root, "etc", "ld.so.conf.d", "loop{}.conf".format(index)), "w") as handle:
            handle.write("include /etc/ld.so.conf.d/*.conf\n/usr/lib/x86_64-linux-gnu\n")
    return dict(args=["--root", root, "--json"])


def features_061(tmp_path, libs, keys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = 061\n")
    return dict(args=["--no-runtime", "--conf", str(conf), "--json"])


def features_4301_digits(tmp_path, libs, keys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = {}\n".format("1" * 4301))
    return dict(args=["--no-runtime", "--conf", str(conf), "--json"])


def conf_trailing_continuation(tmp_path, libs, keys):
    """A ceph.conf whose last line ends in a backslash continuation (h13e's fuzz finding: the
    7-byte file 'a = b\\' + newline made the parser loop)."""
    conf = tmp_path / "ceph.conf"
    conf.write_text("[client]\nrbd default features = 3\na = b\\\n")
    return dict(args=["--no-runtime", "--conf", str(conf), "--json"])


def _verneed_overlap(tmp_path, libs, records=20000):
    """Overlapping version-requirement records: from .gnu.version_r on (readelf's offset), into
    the bytes after it in the same PT_LOAD, ``records`` 16-byte entries that are each both an
    Elf64_Verneed (vn_cnt 0xffff, vn_aux 16, vn_next 16) and an Elf64_Vernaux (vna_next 16):
    every requirement's auxiliary chain runs over all the records after it, so a walk that
    follows the counts without a visited set does records**2 / 2 steps (2e8 here); the last
    entry ends both chains.  DT_VERNEEDNUM claims 0xffff."""
    path = patched_copy(libs, tmp_path)
    offset, _size = readelf_sections(path)[".gnu.version_r"]
    entry = struct.pack("<HHIII", 1, 0xffff, 0, 16, 16)        # vn_version vn_cnt vn_file vn_aux vn_next
    last = struct.pack("<HHIII", 1, 0xffff, 0, 0, 0)
    blob = entry * (records - 1) + last
    with open(path, "rb") as handle:
        header = handle.read(64)
    phoff, = struct.unpack_from("<Q", header, 32)
    phentsize, phnum = struct.unpack_from("<HH", header, 54)
    with open(path, "rb") as handle:
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    load_ends = [struct.unpack_from("<QQQQQ", table, i * phentsize + 8) for i in range(phnum)
                 if struct.unpack_from("<I", table, i * phentsize)[0] == 1]          # PT_LOAD
    assert any(p_offset <= offset and offset + len(blob) <= p_offset + p_filesz
               for p_offset, _va, _pa, p_filesz, _mem in load_ends), "the records must stay in one PT_LOAD"
    poke(path, offset, "{}s".format(len(blob)), blob)
    for entry_offset, tag, _value in dynamic_entries(path):
        if tag == DT_VERNEEDNUM:
            poke(path, entry_offset + 8, "<Q", 0xffff)
            break
    else:
        pytest.fail("no DT_VERNEEDNUM in the installed librbd")
    return path


def verneed_overlap(tmp_path, libs, keys):
    return dict(args=["--librbd", _verneed_overlap(tmp_path, libs), "--no-runtime", "--json"])


def dt_strsz_1g(tmp_path, libs, keys):
    path = patched_copy(libs, tmp_path)
    for entry_offset, tag, _value in dynamic_entries(path):
        if tag == DT_STRSZ:
            poke(path, entry_offset + 8, "<Q", GiB)
            break
    else:
        pytest.fail("no DT_STRSZ")
    sparse(path, GiB + os.path.getsize(path))
    return dict(args=["--librbd", path, "--no-runtime", "--json"])


def pt_dynamic_1g(tmp_path, libs, keys):
    path = patched_copy(libs, tmp_path)
    with open(path, "rb") as handle:
        header = handle.read(64)
    phoff, = struct.unpack_from("<Q", header, 32)
    phentsize, phnum = struct.unpack_from("<HH", header, 54)
    with open(path, "rb") as handle:
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    for index in range(phnum):
        if struct.unpack_from("<I", table, index * phentsize)[0] == PT_DYNAMIC:
            poke(path, phoff + index * phentsize + 32, "<QQ", GiB, GiB)     # p_filesz, p_memsz
            break
    else:
        pytest.fail("no PT_DYNAMIC")
    sparse(path, GiB + os.path.getsize(path))
    return dict(args=["--librbd", path, "--no-runtime", "--json"])


def section_table_1g(tmp_path, libs, keys):
    path = patched_copy(libs, tmp_path)
    with open(path, "rb") as handle:
        header = handle.read(64)
    shoff, = struct.unpack_from("<Q", header, 40)
    # gABI extended numbering: e_shnum 0, the real count in section 0's sh_size: 16 Mi
    # headers of 64 bytes = 1 GiB
    poke(path, 60, "<H", 0)
    poke(path, shoff + 32, "<Q", GiB // 64)
    sparse(path, shoff + GiB + 4096)
    return dict(args=["--librbd", path, "--no-runtime", "--json"])


def elf_header_zeros_1g(tmp_path, libs, keys):
    path = str(tmp_path / "librbd.so.1")
    with open(libs["librbd"], "rb") as handle:
        header = handle.read(64)
    with open(path, "wb") as handle:
        handle.write(header)
    sparse(path, GiB)
    return dict(args=["--librbd", path, "--no-runtime", "--json"])


@pytest.fixture(scope="module")
def big_conf(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bigconf") / "ceph.conf")
    block = ("[client]\n" + "rbd default features = 61\nrbd cache = true\n" * 1000).encode()
    with open(path, "wb") as handle:
        while handle.tell() < 100 * MiB:
            handle.write(block)
    return path


def metavariable_key(tmp_path, libs, keys):
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nkey = {}\n[client]\nrbd default data pool = $key\n".format(keys[0]))
    return dict(args=["--conf", str(conf), "--json"])


def newline_librbd(tmp_path, libs, keys):
    return dict(args=["--librbd", str(tmp_path / "nope.so") + "\n" + INJECTED, "--no-runtime"])


def newline_env_librbd(tmp_path, libs, keys):
    return dict(args=["--no-runtime"], env={"LIBRBD_PROBE_LIBRBD": str(tmp_path / "nope.so") + "\n" + INJECTED})


def conf_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "ceph.conf"))
    return dict(args=["--no-runtime", "--conf", str(tmp_path / "ceph.conf")])


def conf_dev_zero(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--conf", "/dev/zero"])


def conf_dir(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--conf", str(tmp_path)])


# ----------------------------------------------------------------- rows this table adds

def _report_file(tmp_path, name, text):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


_GOOD = []


def _good_report():
    """A real saved report of this host (the static scan's --json), made once."""
    if not _GOOD:
        from conftest import run_cli as plain
        done = plain(["--no-runtime", "--json"])
        assert done.returncode == 0, done.stderr
        _GOOD.append(done.stdout)
    return _GOOD[0]


def baseline_with(content):
    def build(tmp_path, libs, keys):
        return dict(args=["--no-runtime", "--baseline", _report_file(tmp_path, "base.json", content(keys))])
    return build


def baseline_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "base.json"))
    return dict(args=["--no-runtime", "--baseline", str(tmp_path / "base.json")])


def baseline_sparse_300m(tmp_path, libs, keys):
    path = str(tmp_path / "base.json")
    with open(path, "w") as handle:
        handle.write("{")
    sparse(path, 300 * MiB)
    return dict(args=["--no-runtime", "--baseline", path])


def wrong_shape_report(keys):
    doc = json.loads(_good_report())
    doc["libraries"]["librbd"] = ["not", "an", "object"]
    return json.dumps(doc)


def policy_with_key(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--policy", _report_file(tmp_path, "policy", keys[1] + " yes\n")])


def policy_min_release_digits(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--policy", _report_file(tmp_path, "policy", "min-release " + "1" * 5000 + "\n")])


def policy_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "policy"))
    return dict(args=["--no-runtime", "--policy", str(tmp_path / "policy")])


def diff_old_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "old.json"))
    return dict(args=["diff", str(tmp_path / "old.json"), libs["librbd"]])


def diff_deep(tmp_path, libs, keys):
    return dict(args=["diff", _report_file(tmp_path, "old.json", "[" * 100000), libs["librbd"]])


def diff_wrong_shape(tmp_path, libs, keys):
    return dict(args=["diff", _report_file(tmp_path, "old.json", wrong_shape_report(keys)), libs["librbd"]])


def diff_consumer_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "consumer"))
    return dict(args=["diff", libs["librbd"], libs["librbd"], "--consumer", str(tmp_path / "consumer")])


def _fleet_dir(tmp_path):
    directory = tmp_path / "collected"
    directory.mkdir()
    (directory / "good-host.json").write_text(_good_report())
    return directory


def fleet_fifo_entry(tmp_path, libs, keys):
    directory = _fleet_dir(tmp_path)
    os.mkfifo(str(directory / "fifo-host.json"))
    return dict(args=["fleet", str(directory)])


def fleet_control_name(tmp_path, libs, keys):
    directory = _fleet_dir(tmp_path)
    (directory / ("evil\n" + INJECTED + ESC + "host.json")).write_text("{]")
    return dict(args=["fleet", str(directory)])


def fleet_wrong_shape(tmp_path, libs, keys):
    doc = json.loads(_good_report())
    doc["release"] = 5
    return dict(args=["fleet", _report_file(tmp_path, "host.json", json.dumps(doc))])


def fleet_deep(tmp_path, libs, keys):
    return dict(args=["fleet", _report_file(tmp_path, "host.json", '{"a":' * 100000)])


def fleet_html_fifo(tmp_path, libs, keys):
    directory = _fleet_dir(tmp_path)
    os.mkfifo(str(tmp_path / "page.html"))
    return dict(args=["fleet", str(directory), "--html", str(tmp_path / "page.html")])


def save_baseline_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "save.json"))
    return dict(args=["--no-runtime", "--save-baseline", str(tmp_path / "save.json")])


def prometheus_dev_null(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--prometheus", "/dev/null"])


def explain_file_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "log"))
    return dict(args=["explain", "--no-runtime", "--file", str(tmp_path / "log")])


def explain_file_dev_zero(tmp_path, libs, keys):
    return dict(args=["explain", "--no-runtime", "--file", "/dev/zero"])


def explain_stdin(tmp_path, libs, keys):
    return dict(args=["explain", "--no-runtime"],
                stdin=b"ImportError: /usr/lib/python3/dist-packages/rbd.so: undefined symbol: rbd_encryption_load\n")


def explain_key_in_log(tmp_path, libs, keys):
    log = ("2026-01-01 auth: key = {}\n"
           "rbd.so: undefined symbol: rbd_encryption_load2 (client.admin key={})\n").format(keys[2], keys[2])
    return dict(args=["explain", "--no-runtime", "--file", _report_file(tmp_path, "log", log)])


def explain_backtracking_lines(tmp_path, libs, keys):
    """Lines of 60 KB that made two signatures' optional leading groups backtrack at every
    start position (53 s for the go-ceph one, fuzz finding of h13e)."""
    log = ("0" * 60000 + " could not determine kind of name for C.rbd_trash_remove\n"
           + "x.so" * 15000 + ": undefined symbol: rbd_encryption_load2\n"
           + "x/" * 30000 + "y.go:1:2: could not determine kind of name for C.rbd_x\n")
    return dict(args=["explain", "--no-runtime", "--file", _report_file(tmp_path, "log", log)])


def key_in_missing_path(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--librbd", "/nonexistent/" + keys[0] + "/librbd.so.1"])


def esc_in_librbd(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--librbd", str(tmp_path / ("x" + ESC + "y\u2028z"))])


def non_utf8_librbd(tmp_path, libs, keys):
    return dict(args=[b"--no-runtime", b"--librbd", os.fsencode(str(tmp_path)) + b"/lib\xff\xfe.so"])


def _library_in_forging_directory(tmp_path, libs):
    directory = tmp_path / ("lib\n" + INJECTED + ESC)
    directory.mkdir()
    _link_or_copy(libs["librbd"], str(directory / "librbd.so.1"))
    return str(directory / "librbd.so.1")


def forging_path_text(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--librbd", _library_in_forging_directory(tmp_path, libs)])


def forging_path_markdown(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--markdown", "--librbd", _library_in_forging_directory(tmp_path, libs)])


def forging_path_consumers(tmp_path, libs, keys):
    path = _library_in_forging_directory(tmp_path, libs)
    return dict(args=["consumers", "--no-runtime", "--librbd", path, path])


def consumers_root_with_fifos(tmp_path, libs, keys):
    """consumers --root over a tree whose bin and lib hold a FIFO, a link to /dev/zero and a
    sparse 1 GiB file next to a real consumer (the installed librados, which needs librbd's
    sibling libraries): the walk opens regular files only, bounded."""
    root = make_root(tmp_path, libs, cache=False)
    bindir = os.path.join(root, "usr", "bin")
    os.makedirs(bindir)
    os.mkfifo(os.path.join(bindir, "fifo-tool"))
    os.symlink("/dev/zero", os.path.join(bindir, "zero-tool"))
    os.mkfifo(os.path.join(root, "usr", "lib", "x86_64-linux-gnu", "libfifo.so.1"))
    sparse(os.path.join(bindir, "big-tool"), GiB)
    return dict(args=["consumers", "--root", root, "--json"])


def consumers_path_fifo(tmp_path, libs, keys):
    os.mkfifo(str(tmp_path / "prog"))
    return dict(args=["consumers", "--no-runtime", str(tmp_path / "prog")])


def python_that_floods(tmp_path, libs, keys):
    """--python naming a program that prints without end (yes): it filled memory until
    MemoryError; now stopped after 1 MiB."""
    need(shutil.which("yes"), "yes (coreutils) not found")
    flood = tmp_path / "python3"
    flood.write_text("#!/bin/sh\nexec {}\n".format(shutil.which("yes")))
    flood.chmod(0o755)
    return dict(args=["consumers", "--no-runtime", "--python", str(flood)])


def newline_conf(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--conf", str(tmp_path / "x.conf") + "\n" + INJECTED])


def newline_unknown_option(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--bogus\n" + INJECTED])


def newline_require(tmp_path, libs, keys):
    return dict(args=["--no-runtime", "--require", "x\n" + INJECTED])


# id, builder, exit codes, seconds, MiB, options (garbage, says, out_says, err_lines)
ROWS = [
    # --- the "Why" table ----------------------------------------------------------
    ("ldcache-string-offset-past-end", ldcache_offset_past_end, {0}, 10, 200, dict(problem_says="ld\\.so\\.cache")),
    ("features-061-no-runtime", features_061, {0}, 10, 200, dict(out_says="rbd.default.features")),
    ("features-4301-digits", features_4301_digits, {0}, 10, 200, dict(problem_says="rbd.default.features")),
    ("conf-last-line-backslash-continuation", conf_trailing_continuation, {0}, 10, 200, {}),
    ("ldsoconfd-ten-files-include-each-other", confd_include_loop, {0}, 10, 200, {}),
    ("fifo-ldcache-under-root", fifo_ldcache, {0}, 10, 200, dict(problem_says="FIFO")),
    ("fifo-ldsoconf-under-root", fifo_ldsoconf, {0}, 10, 200, dict(problem_says="FIFO")),
    ("fifo-ldsoconfd-entry-under-root", fifo_confd_entry, {0}, 10, 200, dict(problem_says="FIFO")),
    ("verneed-records-overlap", verneed_overlap, {0, 3}, 10, 200, {}),
    ("dt-strsz-1gib-sparse", dt_strsz_1g, {0, 3}, 10, 200, {}),
    ("pt-dynamic-1gib-sparse", pt_dynamic_1g, {0, 3}, 10, 200, {}),
    ("section-table-1gib-sparse", section_table_1g, {0, 3}, 10, 200, {}),
    ("ldcache-1gib-sparse", sparse_ldcache_1g, {0}, 10, 200, dict(problem_says="ld\\.so\\.cache")),
    ("key-metavariable-expanded", metavariable_key, {0}, 30, 400, {}),
    ("ldcache-random", random_ldcache, {0}, 10, 200, dict(problem_says="ld\\.so\\.cache")),
    ("ldcache-truncated", truncated_ldcache, {0}, 10, 200, dict(problem_says="ld\\.so\\.cache")),
    ("elf-header-over-1gib-zeros", elf_header_zeros_1g, {0, 3}, 10, 200, dict(garbage=True)),
    ("conf-fifo", conf_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("conf-dev-zero", conf_dev_zero, {2}, 10, 200, dict(says="device|not a regular file")),
    ("newline-in-librbd", newline_librbd, {2}, 10, 200, dict(says="--librbd")),
    ("newline-in-env-librbd", newline_env_librbd, {2}, 10, 200, dict(says="LIBRBD_PROBE_LIBRBD|--librbd")),
    ("conf-directory", conf_dir, {2}, 10, 200, dict(says="directory")),
    # --- rows this table adds: saved inputs ---------------------------------------------
    ("baseline-nested-100000", baseline_with(lambda k: "[" * 100000), {2}, 10, 200, dict(says="nests deeper")),
    ("baseline-a-list", baseline_with(lambda k: "[1, 2]"), {2}, 10, 200, dict(says="not a librbd-probe")),
    ("baseline-a-number", baseline_with(lambda k: "42"), {2}, 10, 200, dict(says="not a librbd-probe")),
    ("baseline-nan", baseline_with(lambda k: '{"schema_version": NaN}'), {2}, 10, 200, dict(says="NaN")),
    ("baseline-huge-number", baseline_with(lambda k: '{"schema_version": ' + "9" * 100000 + "}"), {2}, 20, 200,
     dict(says="digits")),
    ("baseline-wrong-shape", baseline_with(wrong_shape_report), {2}, 15, 200, dict(says="libraries.librbd")),
    ("baseline-not-utf8", baseline_with(lambda k: b'{"a": "\xff"}'), {2}, 10, 200, dict(says="UTF-8")),
    ("baseline-fifo", baseline_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("baseline-sparse-300mib", baseline_sparse_300m, {2}, 10, 200, dict(says="limit")),
    ("policy-fifo", policy_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("policy-min-release-5000-digits", policy_min_release_digits, {2}, 10, 200, dict(says="min-release takes")),
    ("policy-echoes-a-key", policy_with_key, {2}, 10, 200, dict(says="unknown directive")),
    ("diff-old-fifo", diff_old_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("diff-old-nested-100000", diff_deep, {3}, 10, 200, dict(says="nests deeper")),
    ("diff-old-wrong-shape", diff_wrong_shape, {3}, 15, 200, dict(says="libraries.librbd")),
    ("diff-consumer-fifo", diff_consumer_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("fleet-fifo-entry-in-directory", fleet_fifo_entry, {1}, 15, 200, dict(out_says="FIFO")),
    ("fleet-file-name-with-newline-and-esc", fleet_control_name, {1}, 15, 200, dict(says="flagged")),
    ("fleet-report-wrong-shape", fleet_wrong_shape, {2}, 15, 200, dict(says="release")),
    ("fleet-report-nested-100000", fleet_deep, {2}, 10, 200, dict(says="nests deeper")),
    ("explain-file-fifo", explain_file_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("explain-file-dev-zero", explain_file_dev_zero, {2}, 10, 200, dict(says="device|not a regular file")),
    ("explain-standard-input-still-read", explain_stdin, {0}, 30, 300, dict(out_says="rbd_encryption_load")),
    ("explain-log-holding-keys", explain_key_in_log, {0, 4}, 30, 300, {}),
    ("explain-backtracking-60kb-lines", explain_backtracking_lines, {0}, 15, 300, dict(out_says="go-ceph|rbd_trash")),
    # --- output files ---------------------------------------------------------------------
    ("save-baseline-fifo", save_baseline_fifo, {2}, 10, 200, dict(says="FIFO")),
    ("fleet-html-fifo", fleet_html_fifo, {2}, 15, 200, dict(says="FIFO")),
    ("prometheus-dev-null", prometheus_dev_null, {2}, 10, 200, dict(says="character device")),
    # --- names and values with control characters or keys ---------------------------------
    ("key-in-a-missing-path", key_in_missing_path, {2}, 10, 200, dict(says="does not exist|no such file")),
    ("esc-and-u2028-in-librbd", esc_in_librbd, {2}, 10, 200, dict(says="--librbd")),
    ("non-utf8-byte-in-librbd", non_utf8_librbd, {2}, 10, 200, dict(says="\\\\xff")),
    ("newline-and-esc-in-a-scanned-path-text", forging_path_text, {0}, 10, 200, dict(out_says="INJECTED")),
    ("newline-and-esc-in-a-scanned-path-markdown", forging_path_markdown, {0}, 10, 200, dict(out_says="INJECTED")),
    ("newline-and-esc-in-a-consumer-path", forging_path_consumers, {0, 1, 3}, 15, 300, dict(out_says="INJECTED")),
    ("consumers-root-with-fifos-and-devices", consumers_root_with_fifos, {0, 1, 3}, 20, 200, {}),
    ("consumers-path-fifo", consumers_path_fifo, {2, 3}, 10, 200, dict(any_says="FIFO|not a regular file")),
    ("python-that-floods-stdout", python_that_floods, {2}, 30, 200, dict(says="not a Python interpreter")),
    ("newline-in-conf", newline_conf, {2}, 10, 200, dict(says="--conf")),
    ("newline-in-unknown-option", newline_unknown_option, {2}, 10, 200, dict(says="unrecognized|bogus")),
    ("newline-in-require", newline_require, {2}, 10, 200, dict(says="unknown capability")),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_hostile_row(row, tmp_path, libs, keys):
    _id, build, codes, seconds, rss, options = row
    spec = build(tmp_path, libs, keys)
    run = run_cli(spec["args"], env=spec.get("env"), stdin=spec.get("stdin"), timeout=seconds + 5)
    print("row {}: exit {}, {:.2f} s, {:.0f} MiB peak RSS".format(_id, run.code, run.seconds, run.rss_mib))
    check(run, codes, seconds, rss, secrets=keys, **options)


@pytest.mark.parametrize("static", [True, False], ids=["static", "runtime"])
def test_hostile_100mb_ceph_conf(static, big_conf, libs, keys):
    """A 100 MB ceph.conf named by --conf: refused in one line before anything reads it
    (it cost 558 MB static, 877 MB in the runtime child)."""
    run = run_cli((["--no-runtime"] if static else []) + ["--conf", big_conf], timeout=30)
    check(run, {2}, 10, 200, secrets=keys, says="limit")


@pytest.mark.parametrize("static", [True, False], ids=["static", "runtime"])
def test_hostile_100mb_ceph_conf_from_env(static, big_conf, libs, keys):
    """The same file named by $CEPH_CONF: an input the user named too (exit 2) or, read as a
    discovered file, a stated problem (exit 0); bounded either way."""
    run = run_cli((["--no-runtime"] if static else []) + ["--json"], env={"CEPH_CONF": big_conf}, timeout=30)
    check(run, {0, 2}, 20, 250 if static else 400, secrets=keys)


def test_metavariable_key_absent_from_every_output(tmp_path, libs, keys):
    """--json, text, --markdown, --prometheus and --save-baseline of a conf whose option
    librados expands from $key: the key is in none of them."""
    spec = metavariable_key(tmp_path, libs, keys)
    conf = spec["args"][1]
    prom, save = str(tmp_path / "m.prom"), str(tmp_path / "save.json")
    for extra in ([], ["--markdown"], ["--json", "--prometheus", prom, "--save-baseline", save]):
        run = run_cli(["--conf", conf] + extra, timeout=40)
        check(run, {0}, 30, 400, secrets=keys)
    for path in (prom, save):
        with open(path) as handle:
            text = handle.read()
        assert keys[0] not in text and keys[0][:-2] not in text, path


@pytest.mark.parametrize("args", [["--no-runtime", "--json"], ["schema"], ["--version"]],
                         ids=["report-38kb", "schema-list-small", "version"])
def test_stdout_closed_early_is_quiet(args, libs):
    """``librbd-probe --json | head -c0``: the reader went away; no traceback, no second error
    (a large output fails in a write, a small one only in the final flush)."""
    run = run_cli(args, close_stdout=True)
    assert "Traceback" not in run.err and "Exception ignored" not in run.err, run
    assert run.code == 141 and run.err == "", run


def test_prometheus_dev_null_left_alone(tmp_path, libs, keys):
    before = os.stat("/dev/null")
    run_cli(["--no-runtime", "--prometheus", "/dev/null"])
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


# ------------------------------------------------------- the error path itself (in-process)

def test_internal_error_is_one_line_exit_3(monkeypatch, capsys):
    """A bug (an exception no input should cause) is one line naming it, exit 3; the traceback
    only with LIBRBD_PROBE_DEBUG=1."""
    from librbd_probe import cli

    def broken(argv):
        raise KeyError("boom\n" + INJECTED)
    monkeypatch.setattr(cli, "_main", broken)
    monkeypatch.delenv("LIBRBD_PROBE_DEBUG", raising=False)
    assert cli.main(["--no-runtime"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("librbd-probe: error: internal error: KeyError")
    assert "please report" in err and "LIBRBD_PROBE_DEBUG=1" in err
    monkeypatch.setenv("LIBRBD_PROBE_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["--no-runtime"])


def test_registered_keyring_secret_redacted_from_every_stream(monkeypatch, capsys, tmp_path):
    """safeio.add_secrets (the keys of the keyrings a configuration names, not only the cephx
    key shape) are redacted by the CLI's one writer: stdout, stderr and files."""
    from librbd_probe import cli, safeio
    secret = "not-key-shaped-but-secret-0123456789"
    monkeypatch.setattr(safeio, "_SECRETS", set())
    safeio.add_secrets([secret])
    cli._write("value " + secret + "\n")
    cli._error("a path /etc/ceph/" + secret)
    cli._write_file(str(tmp_path / "out"), "x " + secret + "\n", "--save-baseline")
    captured = capsys.readouterr()
    assert secret not in captured.out and secret not in captured.err
    assert safeio.REDACTED in captured.out and safeio.REDACTED in captured.err
    assert secret not in (tmp_path / "out").read_text()


def test_explain_patterns_stay_linear_on_long_runs():
    """Every signature pattern of errors.json over 20 KB runs of the characters its classes
    take, with and without its keywords after them: under 100 ms each (the fuzz contract's
    bound), so a long line cannot make an optional leading group backtrack at every start."""
    from librbd_probe import knowledge
    signatures = knowledge.load("errors.json")["signatures"]
    fills = ["x", "x/", "x.so", "0", "x ", "/", "a.go:1:1: ", "x'", "x:", "-", "a1."]
    slow = []
    for sig in signatures:
        tails = [""] + [" " + k for k in (sig.get("keywords") or [])[:3]]
        for pattern in sig["patterns"]:
            rx = re.compile(pattern)
            for fill in fills:
                line = fill * (20000 // len(fill))
                for tail in tails:
                    start = time.monotonic()
                    for _ in rx.finditer(line + tail):
                        pass
                    took = time.monotonic() - start
                    if took > 0.1:
                        slow.append((sig["id"], fill, tail, round(took, 3)))
    assert not slow, slow


def test_explain_text_with_any_lone_surrogate_never_raises(libs):
    """explain.explain's contract (never raises) for text a caller built: a lone surrogate
    that is no surrogateescape'd byte (U+D800) raised UnicodeEncodeError."""
    from librbd_probe import explain, scan
    report = scan.scan(runtime=False)
    for text in ("\ud800 undefined symbol: rbd_x", "\udbff\udc00\udfff", "\udcff", "x\x00y"):
        explain.explain(report, text)
