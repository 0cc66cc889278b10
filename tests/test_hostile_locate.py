"""Hostile input for the loader's files (issue 13): ld.so.cache, ld.so.conf and its includes,
FIFOs under --root, the krbd sysfs file, user-named library paths.

Oracles: the real loader (a copy of this host's ld.so whose built-in cache path is changed, run
with LD_DEBUG=libs: it says whether its cache lookup answered and with what), the real
``ldconfig`` (caches it writes), and bounds measured on a child process (wall time, peak RSS).
"""
import json
import os
import random
import struct
import subprocess
import sys
import textwrap

import pytest

from conftest import PROJECT, need, run_cli
from librbd_probe import krbd, loader, locate, safeio
from librbd_probe.errors import ElfError, LocateError, ProbeError
from librbd_probe.rootfs import Root

HOST_CACHE = "/etc/ld.so.cache"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
TRIPLET_DIR = "/usr/lib/x86_64-linux-gnu"


def _host_cache():
    need(os.path.isfile(HOST_CACHE), "no /etc/ld.so.cache on this host")
    with open(HOST_CACHE, "rb") as handle:
        data = handle.read()
    need(data.startswith(b"glibc-ld.so.cache1.1"), "the host cache is not in glibc's new format")
    return data


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PROJECT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _child(code, timeout):
    """Run ``code`` in a fresh interpreter (the package importable); it prints JSON on its last
    line and its own peak RSS in KiB as ``rss``.  Returns (parsed, seconds)."""
    import time
    prologue = "import json, resource, sys\n"
    epilogue = "\nOUT['rss'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nprint(json.dumps(OUT))\n"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(code) + epilogue],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=_env(), timeout=timeout)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), took


def _baseline_rss():
    out, _ = _child("from librbd_probe import locate\nOUT = {}", 30)
    return out["rss"]


# --- ld.so.cache: the parser's contract, table-driven -------------------------------------------

def _mutations(data):
    """(label, bytes) of damaged copies of a real cache: each a way a file gets broken."""
    nlibs = struct.unpack_from("<I", data, 20)[0]
    table = 48
    rows = [("intact", data), ("empty", b""), ("magic only", data[:20]), ("header only", data[:48]),
            ("one byte past the header", data[:49]), ("60 bytes", data[:60])]
    for fraction in (0.25, 0.5, 0.75, 0.9, 0.99):
        rows.append(("truncated to {:.0%}".format(fraction), data[:int(len(data) * fraction)]))
    rng = random.Random(13)
    rows.append(("random 4 KiB", bytes(rng.getrandbits(8) for _ in range(4096))))
    rows.append(("random after the magic", data[:20] + bytes(rng.getrandbits(8) for _ in range(4096))))

    def patched(offset, fmt, value):
        out = bytearray(data)
        struct.pack_into(fmt, out, offset, value)
        return bytes(out)

    rows.append(("nlibs 0xffffffff", patched(20, "<I", 0xffffffff)))
    rows.append(("nlibs one past the table", patched(20, "<I", (len(data) - 48) // 24 + 1)))
    rows.append(("nlibs halved", patched(20, "<I", nlibs // 2)))
    rows.append(("nlibs 1", patched(20, "<I", 1)))
    rows.append(("flags big-endian", patched(28, "<B", 3)))
    rows.append(("flags invalid", patched(28, "<B", 1)))
    for index in (0, (nlibs - 1) // 2, nlibs // 2, nlibs - 1):      # (nlibs - 1) // 2: the first probe
        at = table + index * 24
        rows.append(("key of entry {} past the end".format(index), patched(at + 4, "<I", len(data) + 100)))
        rows.append(("key of entry {} 0xffffffff".format(index), patched(at + 4, "<I", 0xffffffff)))
        rows.append(("value of entry {} past the end".format(index), patched(at + 8, "<I", len(data))))
    libc = [i for i in range(nlibs)
            if data.startswith(b"libc.so.6\0", struct.unpack_from("<I", data, table + i * 24 + 4)[0])]
    for index in libc:
        rows.append(("value of libc.so.6 (entry {}) past the end".format(index),
                     patched(table + index * 24 + 8, "<I", len(data) + 5)))
    every_key = bytearray(data)
    for index in range(nlibs):
        struct.pack_into("<I", every_key, table + index * 24 + 4, len(data) + index)
    rows.append(("every key past the end", bytes(every_key)))
    swapped = bytearray(data)
    a, b = table + 3 * 24, table + (nlibs - 4) * 24
    swapped[a:a + 24], swapped[b:b + 24] = data[b:b + 24], data[a:a + 24]
    rows.append(("two entries swapped (unsorted)", bytes(swapped)))
    strings_start = table + nlibs * 24
    zeroed = data[:strings_start] + b"\0" * (len(data) - strings_start)
    rows.append(("string table zeroed", zeroed))
    no_nul = data.rstrip(b"\0")
    rows.append(("last string unterminated", no_nul))
    overlap = bytearray(data)
    for index in range(nlibs):      # every entry points at the same two strings
        struct.pack_into("<II", overlap, table + index * 24 + 4, *struct.unpack_from("<II", data, table + 4))
    rows.append(("every entry the same strings", bytes(overlap)))
    return rows


def test_cache_parser_raises_only_ldcacheerror_for_any_mutation():
    data = _host_cache()
    names = sorted({n for n, _ in locate.parse_ld_so_cache(data)})
    for label, blob in _mutations(data):
        try:
            cache = locate.LdCache(blob)
        except locate.LdCacheError as exc:
            assert "\n" not in str(exc) and str(exc), label
            with pytest.raises(locate.LdCacheError):
                locate.parse_ld_so_cache(blob)
            continue
        for name in names[:40] + ["libc.so.6", "librbd.so.1", "", "\udcff", "x" * 5000, "lib\0c.so.6"]:
            assert isinstance(cache.lookup(name), list), label
        assert isinstance(cache.entries(), list) and locate.parse_ld_so_cache(blob) == cache.entries()
        damage = cache.damage()
        assert damage is None or "\n" not in damage


def test_ldcacheerror_is_a_probe_and_value_error():
    assert issubclass(locate.LdCacheError, ProbeError) and issubclass(locate.LdCacheError, ValueError)


@pytest.mark.parametrize("blob, reason", [
    (b"", "not a glibc ld.so.cache"),
    (b"\x7fELF" + b"\0" * 60, "not a glibc ld.so.cache"),
    (b"glibc-ld.so.cache1.1", "truncated ld.so.cache"),
    (b"glibc-ld.so.cache1.1" + struct.pack("<II", 1, 0) + b"\0" * 20, "truncated ld.so.cache"),
    (b"glibc-ld.so.cache1.1" + struct.pack("<IIB", 0, 0, 3) + b"\0" * 20,
     "ld.so.cache has the wrong byte order (flags 0x3; a big-endian target's cache)"),
    (b"ld.so-1.7.0\0" + struct.pack("<I", 5) + b"\0" * 12, "truncated ld.so.cache"),
    (b"ld.so-1.7.0\0", "truncated ld.so.cache"),
])
def test_cache_header_refusals(blob, reason):
    """The header checks of glibc 2.36's _dl_load_cache_lookup, with the reason in one line."""
    with pytest.raises(locate.LdCacheError) as info:
        locate.LdCache(blob)
    assert str(info.value) == reason


def test_compat_new_table_past_the_end_is_read_as_the_loader_reads_it():
    """glibc 2.36 does not check the count of the new table that follows an old one: entries
    past the end are the zeros of its mapping.  Accepted, nothing found, the damage stated."""
    blob = b"ld.so-1.7.0\0" + struct.pack("<I", 0) + b"glibc-ld.so.cache1.1" + struct.pack("<I", 99) + b"\0" * 24
    cache = locate.LdCache(blob)
    assert cache.lookup("libc.so.6") == [] and cache.entries() == []
    assert cache.damage() == ("the new-format table claims 99 entries, 0 fit in the file (truncated); the loader "
                              "reads on past the end")
    huge = blob[:36] + struct.pack("<I", 0xffffffff) + blob[40:]
    assert locate.LdCache(huge).lookup("libc.so.6") == [] and locate.LdCache(huge).entries() == []


def test_cache_with_zero_entries_is_empty_not_an_error():
    blob = b"glibc-ld.so.cache1.1" + struct.pack("<II", 0, 0) + b"\0" * 24
    cache = locate.LdCache(blob)
    assert cache.lookup("libc.so.6") == [] and cache.entries() == [] and cache.damage() is None


@pytest.mark.parametrize("left, right, sign", [
    # _dl_cache_libcmp (elf/dl-cache.c): digit runs numerically, else bytewise (signed char)
    (b"libx.so.10", b"libx.so.9", 1), (b"libx.so.9", b"libx.so.10", -1), (b"libx.so.1", b"libx.so.1", 0),
    (b"libx.so.1", b"libx.so.01", 0), (b"liba", b"libb", -1), (b"lib1", b"liba", 1), (b"liba", b"lib1", -1),
    (b"lib", b"libc", -1), (b"libc", b"lib", 1), (b"lib\x80", b"lib\x7f", -1),
    (b"x" + b"9" * 5000, b"x" + b"9" * 5000, 0),       # a 5,000-digit run: C int arithmetic, fast
])
def test_libcmp(left, right, sign):
    result = locate._libcmp(left, right)
    assert (result > 0) - (result < 0) == sign


# --- ld.so.cache: the real loader is the oracle -----------------------------------------------------

def _patched_loader(tmp_path):
    """A copy of this host's ld.so whose cache is ``./c`` (relative to its working directory)."""
    real = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    need(os.path.isfile(real), "no x86-64 glibc loader at /lib64/ld-linux-x86-64.so.2")
    with open(real, "rb") as handle:
        image = handle.read()
    need(image.count(b"/etc/ld.so.cache\0") == 1, "the loader does not embed /etc/ld.so.cache once")
    copy = tmp_path / "ld.so"
    copy.write_bytes(image.replace(b"/etc/ld.so.cache\0", b"c\0" + b"\0" * 15))
    os.chmod(str(copy), 0o755)
    try:
        ran = subprocess.run([str(copy), "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=30).returncode == 0
    except OSError:                      # a noexec temporary directory
        ran = False
    need(ran, "cannot run a copy of the loader from " + str(tmp_path))
    return str(copy)


def _loader_cache_answers(ld, cwd, program):
    """{name: path or None} for every NEEDED name the real loader looked up in its cache."""
    proc = subprocess.run([ld, "--list", program], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, errors="replace", env={"LD_DEBUG": "libs"}, timeout=30)
    answers = {}
    name = None
    lines = [line.split(":", 1)[1] if ":" in line else line for line in proc.stdout.splitlines()]
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("find library="):
            name = stripped[len("find library="):].split(" [", 1)[0]
        elif stripped.startswith("search cache=") and name is not None:
            after = lines[index + 1].strip() if index + 1 < len(lines) else ""
            answers[name] = after[len("trying file="):] if after.startswith("trying file=") else None
            name = None
    return answers


def test_cache_lookups_match_the_real_loader_on_damaged_caches(tmp_path, installed):
    """For every damaged copy of this host's cache, each name the real loader looks up in it gets
    the answer the loader got (a path, or nothing: the loader goes on with the default path)."""
    data = _host_cache()
    ld = _patched_loader(tmp_path)
    program = installed["librbd"]
    compared = 0
    for label, blob in _mutations(data):
        (tmp_path / "c").write_bytes(blob)
        truth = _loader_cache_answers(ld, str(tmp_path), program)
        assert truth, (label, "the loader searched no cache")
        try:
            cache = locate.LdCache(blob)
        except locate.LdCacheError:
            cache = None
        for name, path in sorted(truth.items()):
            mine = cache.lookup(name) if cache is not None else []
            assert (mine[0] if mine else None) == path, (label, name, mine, path)
            compared += 1
    assert compared > 100


def _old_mutations(data):
    """Damaged copies of an old-format or compat cache (old table: 16-byte header, 12-byte
    entries; compat: the new table follows, 8-byte aligned)."""
    nlibs = struct.unpack_from("<I", data, 12)[0]
    rows = [("intact", data)]
    for fraction in (0.1, 0.5, 0.9, 0.99):
        rows.append(("truncated to {:.0%}".format(fraction), data[:int(len(data) * fraction)]))

    def patched(offset, fmt, value):
        out = bytearray(data)
        struct.pack_into(fmt, out, offset, value)
        return bytes(out)

    rows.append(("old nlibs 0xffffffff", patched(12, "<I", 0xffffffff)))
    rows.append(("old nlibs halved", patched(12, "<I", nlibs // 2)))
    rows.append(("old nlibs 0", patched(12, "<I", 0)))
    for index in (0, (nlibs - 1) // 2, nlibs - 1):
        rows.append(("old key {} past the end".format(index), patched(16 + index * 12 + 4, "<I", len(data))))
        rows.append(("old value {} past the end".format(index), patched(16 + index * 12 + 8, "<I", 1 << 31)))
    new = (16 + nlibs * 12 + 7) & ~7
    if data.startswith(b"glibc-ld.so.cache1.1", new):
        new_n = struct.unpack_from("<I", data, new + 20)[0]
        rows.append(("new nlibs 0xffffffff", patched(new + 20, "<I", 0xffffffff)))
        rows.append(("new nlibs halved", patched(new + 20, "<I", new_n // 2)))
        rows.append(("new flags big-endian", patched(new + 28, "<B", 3)))
        for index in (0, (new_n - 1) // 2, new_n - 1):
            at = new + 48 + index * 24
            rows.append(("new key {} past the end".format(index), patched(at + 4, "<I", len(data))))
            rows.append(("new value {} past the end".format(index), patched(at + 8, "<I", len(data) - new)))
    return rows


@pytest.mark.parametrize("fmt", ["old", "compat"])
def test_old_and_compat_caches_match_the_real_loader(tmp_path, installed, fmt):
    """Caches the real ldconfig writes in the other two layouts (this host's directories), and
    damaged copies: each name the real loader looks up gets the loader's answer."""
    need(os.path.exists("/sbin/ldconfig"), "no /sbin/ldconfig")
    cache_file = str(tmp_path / "written.cache")
    subprocess.run(["/sbin/ldconfig", "-X", "-c", fmt, "-C", cache_file], check=True)
    with open(cache_file, "rb") as handle:
        data = handle.read()
    assert data.startswith(b"ld.so-1.7.0")
    ld = _patched_loader(tmp_path)
    compared = answered = 0
    for label, blob in _old_mutations(data):
        try:
            cache = locate.LdCache(blob)
        except locate.LdCacheError:
            cache = None
        if fmt == "compat" and label.startswith("truncated") and cache is not None:
            # glibc 2.36 checks a compat file's new-format strings against the whole file's
            # size, not the truncated one: its binary search then reads past its mapping
            # (undefined: whatever memory follows).  Nothing to compare; the damage is stated.
            assert cache.damage(), label
            continue
        (tmp_path / "c").write_bytes(blob)
        truth = _loader_cache_answers(ld, str(tmp_path), installed["librbd"])
        assert truth, label
        for name, path in sorted(truth.items()):
            mine = cache.lookup(name) if cache is not None else []
            assert (mine[0] if mine else None) == path, (fmt, label, name, mine, path)
            compared += 1
            answered += path is not None
    assert compared > 100 and 0 < answered < compared


def test_caches_refused_here_are_refused_by_the_real_ldconfig_too(tmp_path):
    """``ldconfig -C FILE -p`` (glibc's own printer) on the caches refused here: it refuses them
    too (exit 1), or crashes (a count past the table: it prints past the end until SIGSEGV).
    So ``ldconfig -p`` is no fallback for a damaged cache; the loader skips it (tested above)."""
    need(os.path.exists("/sbin/ldconfig"), "no /sbin/ldconfig")
    data = _host_cache()
    rows = [("random", bytes(random.Random(5).getrandbits(8) for _ in range(4096))), ("60 bytes", data[:60]),
            ("count past the table", data[:20] + struct.pack("<I", 0x7fffffff) + data[24:])]
    for label, blob in rows:
        with pytest.raises(locate.LdCacheError):
            locate.LdCache(blob)
        path = tmp_path / "c"
        path.write_bytes(blob)
        proc = subprocess.run(["/sbin/ldconfig", "-C", str(path), "-p"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
        assert proc.returncode != 0, label



def test_the_ldconfig_fallback_reads_a_bounded_output():
    """The host-only fallback (a failure of this reader, not of the file) reads at most
    ``limit`` lines of ``ldconfig -p``; output cut short is not used (the process is killed)."""
    need(os.path.exists("/sbin/ldconfig"), "no /sbin/ldconfig")
    assert len(locate._ldconfig_cache()) > 5
    assert locate._ldconfig_cache(limit=5) == []


# --- ld.so.cache found by the scan: stated, and the search falls back ------------------------------

def _root_with_librbd(tmp_path, installed):
    """A --root with librbd/librados in /usr/lib/x86_64-linux-gnu (hard links, else copies)."""
    root = tmp_path / "root"
    lib = root / TRIPLET_DIR.lstrip("/")
    lib.mkdir(parents=True)
    (root / "etc").mkdir()
    for key in ("librbd", "librados"):
        real = os.path.realpath(installed[key])
        dest = lib / os.path.basename(real)
        try:
            os.link(real, str(dest))
        except OSError:
            import shutil
            shutil.copy(real, str(dest))
        os.symlink(os.path.basename(real), str(lib / os.path.basename(installed[key])))
    return root


def _scan_json(root, timeout=60, extra=()):
    proc = run_cli(["--root", str(root), "--no-runtime", "--json"] + list(extra), timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def _problem(report, problem_id):
    found = [p for p in report["problems"] if p["id"] == problem_id]
    assert found, [p["id"] for p in report["problems"]]
    return found[0]


@pytest.mark.parametrize("label", ["random", "truncated", "string offset past the end"])
def test_a_corrupt_cache_under_root_is_stated_and_librbd_still_found(tmp_path, installed, label):
    data = _host_cache()
    root = _root_with_librbd(tmp_path, installed)
    if label == "random":
        blob = bytes(random.Random(1).getrandbits(8) for _ in range(8192))
    elif label == "truncated":
        blob = data[:100]
    else:
        nlibs = struct.unpack_from("<I", data, 20)[0]
        blob = bytearray(data)
        for index in range(nlibs):
            struct.pack_into("<I", blob, 48 + index * 24 + 4, len(data) + 1000)
        blob = bytes(blob)
    (root / "etc" / "ld.so.cache").write_bytes(blob)
    proc, report = _scan_json(root)
    assert report is not None, proc.stderr
    problem = _problem(report, "locate.ldcache-corrupt")
    assert str(root / "etc" / "ld.so.cache") in problem["message"]
    assert any(e.startswith("path ") for e in problem["evidence"])
    assert any(e.startswith("reason ") for e in problem["evidence"])
    rbd = report["libraries"]["librbd"]
    assert rbd["found"] and rbd["path"].endswith("/usr/lib/x86_64-linux-gnu/librbd.so.1")
    assert [c for c in rbd["candidates"] if c.get("chosen")][0]["source"] == "default"


def test_a_valid_cache_written_by_ldconfig_states_nothing(tmp_path, installed):
    root = _root_with_librbd(tmp_path, installed)
    (root / "etc" / "ld.so.conf").write_text(u"/usr/lib/x86_64-linux-gnu\n")
    need(os.path.exists("/sbin/ldconfig"), "no /sbin/ldconfig")
    subprocess.run(["/sbin/ldconfig", "-X", "-r", str(root), "-C", "/etc/ld.so.cache"], check=True)
    ctx = locate.search_context(Root(str(root)), environ={})
    assert ctx.cache_error is None and locate.context_problems(ctx) == ()
    found = locate.search_order("librbd.so.1", ctx)
    assert found[0].source == "ld.so.cache"


def test_a_1gib_sparse_cache_is_refused_without_reading_it(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    with open(str(root / "etc" / "ld.so.cache"), "wb") as handle:
        handle.write(b"glibc-ld.so.cache1.1")
        handle.truncate(1 << 30)
    base = _baseline_rss()
    out, took = _child("""
        from librbd_probe import locate
        ctx = locate.search_context({!r}, environ={{}})
        OUT = {{"ids": [p.id for p in locate.context_problems(ctx)], "error": ctx.cache_error,
               "message": [p.message for p in locate.context_problems(ctx)]}}
        """.format(str(root)), timeout=30)
    assert out["ids"] == ["locate.ldcache-unreadable"]
    assert "1073741824 bytes, over the limit of 64 MiB for ld.so.cache" in out["error"]
    assert out["rss"] - base < 16 * 1024, (out["rss"], base)        # KiB: far from 1 GiB
    assert took < 10


def test_ldcache_problem_ids_by_kind(tmp_path):
    """FIFO, directory and unreadable caches: ``locate.ldcache-unreadable``; bad bytes:
    ``locate.ldcache-corrupt``; a missing cache is no problem (the loader runs without one)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    cache = root / "etc" / "ld.so.cache"
    assert locate.context_problems(locate.search_context(str(root), environ={})) == ()
    cache.mkdir()
    problems = locate.context_problems(locate.search_context(str(root), environ={}))
    assert [p.id for p in problems] == ["locate.ldcache-unreadable"] and "is a directory" in problems[0].message
    cache.rmdir()
    os.mkfifo(str(cache))
    problems = locate.context_problems(locate.search_context(str(root), environ={}))
    assert [p.id for p in problems] == ["locate.ldcache-unreadable"] and "FIFO" in problems[0].message
    os.unlink(str(cache))
    cache.write_bytes(b"garbage" * 10)
    problems = locate.context_problems(locate.search_context(str(root), environ={}))
    assert [(p.id, p.severity) for p in problems] == [("locate.ldcache-corrupt", "warning")]
    assert "not a glibc ld.so.cache" in problems[0].message


def test_a_cache_path_with_a_newline_stays_one_line(tmp_path):
    root = tmp_path / "bad\nroot"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "ld.so.cache").write_bytes(b"junk")
    problems = locate.context_problems(locate.search_context(str(root), environ={}))
    for problem in problems:
        for text in (problem.message, problem.fix) + tuple(problem.evidence):
            assert "\n" not in text


# --- FIFOs under --root: never block ------------------------------------------------------------

@pytest.mark.parametrize("where", ["etc/ld.so.cache", "etc/ld.so.conf", "etc/ld.so.conf.d/a.conf"])
def test_a_fifo_under_root_never_blocks(tmp_path, installed, where):
    """The CLI in a subprocess with a timeout: an open() of the FIFO would block for ever."""
    root = _root_with_librbd(tmp_path, installed)
    (root / "etc" / "ld.so.conf.d").mkdir()
    if where != "etc/ld.so.conf":
        (root / "etc" / "ld.so.conf").write_text(u"include /etc/ld.so.conf.d/*.conf\n")
    os.mkfifo(str(root / where))
    proc, report = _scan_json(root, timeout=30)
    assert report is not None, proc.stderr
    assert report["libraries"]["librbd"]["found"]
    ids = [p["id"] for p in report["problems"]]
    if where == "etc/ld.so.cache":
        assert "locate.ldcache-unreadable" in ids
    else:
        problem = _problem(report, "locate.ld-so-conf-skipped")
        assert any("/" + where + ": is a FIFO (named pipe), not a regular file" in e for e in problem["evidence"])


# --- ld.so.conf: the include graph ------------------------------------------------------------------

def _conf_root(tmp_path, files):
    root = tmp_path / "root"
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_include_cycle_of_ten_files_finishes_fast_and_small(tmp_path):
    """Ten ld.so.conf.d files that each include the whole directory (each other and themselves):
    hung past 45 s with memory growing before; now each file is read once."""
    files = {"/etc/ld.so.conf": u"include /etc/ld.so.conf.d/*.conf\n"}
    for n in range(10):
        files["/etc/ld.so.conf.d/{:02d}.conf".format(n)] = u"/opt/d{}\ninclude /etc/ld.so.conf.d/*.conf\n".format(n)
    root = _conf_root(tmp_path, files)
    base = _baseline_rss()
    out, took = _child("""
        from librbd_probe import locate
        ctx = locate.search_context({!r}, environ={{}})
        OUT = {{"dirs": list(ctx.conf_dirs), "ids": [p.id for p in locate.context_problems(ctx)]}}
        """.format(str(root)), timeout=5)
    assert out["dirs"] == ["/opt/d{}".format(n) for n in range(10)]
    assert out["ids"] == []
    assert took < 5 and out["rss"] - base < 8 * 1024


def test_a_deep_include_chain_stops_at_the_bound_with_a_stated_problem(tmp_path):
    depth = locate.MAX_CONF_DEPTH + 8
    files = {"/etc/ld.so.conf": u"include /etc/c1.conf\n"}
    for n in range(1, depth + 1):
        files["/etc/c{}.conf".format(n)] = u"/opt/{}\ninclude /etc/c{}.conf\n".format(n, n + 1)
    ctx = locate.search_context(str(_conf_root(tmp_path, files)), environ={})
    assert ctx.conf_dirs == tuple("/opt/{}".format(n) for n in range(1, locate.MAX_CONF_DEPTH + 1))
    problem, = locate.context_problems(ctx)
    assert problem.id == "locate.ld-so-conf-skipped" and problem.severity == "info"
    assert "includes nested deeper than 32 levels" in problem.message


def test_a_wide_glob_fan_out_is_bounded(tmp_path):
    files = {"/etc/ld.so.conf": u"include /etc/d/*.conf /etc/d/*.conf /etc/d/*\n"}
    for n in range(locate.MAX_CONF_FILES + 50):
        files["/etc/d/{:05d}.conf".format(n)] = u"/opt/{}\n".format(n)
    ctx = locate.search_context(str(_conf_root(tmp_path, files)), environ={})
    assert 0 < len(ctx.conf_dirs) <= locate.MAX_CONF_FILES
    problem, = locate.context_problems(ctx)
    assert problem.message == ("/etc/ld.so.conf: reading stopped: more than 1024 files match /etc/d/*.conf; their "
                               "directories are not listed as ld.so.conf candidates")


def test_the_number_of_files_read_is_bounded(tmp_path):
    files = {"/etc/ld.so.conf": u"include /etc/d1/*.conf /etc/d2/*.conf\n"}
    for n in range(600):
        for d in ("d1", "d2"):
            files["/etc/{}/{:05d}.conf".format(d, n)] = u"/opt/{}/{}\n".format(d, n)
    ctx = locate.search_context(str(_conf_root(tmp_path, files)), environ={})
    assert len(ctx.conf_dirs) == locate.MAX_CONF_FILES - 1          # ld.so.conf itself is one file
    assert "reading stopped: more than 1024 configuration files" in locate.context_problems(ctx)[0].message


def test_directories_are_listed_once_and_bounded(tmp_path):
    many = u"\n".join("/opt/{}".format(n) for n in range(locate.MAX_CONF_DIRS + 10))
    root = _conf_root(tmp_path, {"/etc/ld.so.conf": u"/x\n/x\n/y\n" + many + u"\n"})
    ctx = locate.search_context(str(root), environ={})
    assert ctx.conf_dirs[:3] == ("/x", "/y", "/opt/0") and len(ctx.conf_dirs) == locate.MAX_CONF_DIRS
    assert "reading stopped: more than 10000 directories" in locate.context_problems(ctx)[0].message


@pytest.mark.parametrize("make, reason", [
    ("dir", "is a directory"),
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("huge", "over the limit of 1 MiB for ld.so.conf"),
    ("loop", "too many levels of symbolic links"),
])
def test_an_include_that_is_not_a_readable_regular_file_is_skipped_and_stated(tmp_path, make, reason):
    root = _conf_root(tmp_path, {"/etc/ld.so.conf": u"/opt/first\ninclude /etc/ld.so.conf.d/*.conf\n",
                                 "/etc/ld.so.conf.d/a.conf": u"/opt/a\n",
                                 "/etc/ld.so.conf.d/c.conf": u"/opt/c\n"})
    bad = root / "etc" / "ld.so.conf.d" / "b.conf"
    if make == "dir":
        bad.mkdir()
    elif make == "fifo":
        os.mkfifo(str(bad))
    elif make == "huge":
        with open(str(bad), "wb") as handle:
            handle.truncate((1 << 20) + 1)
    elif make == "loop":
        os.symlink("b.conf", str(bad))
    ctx = locate.search_context(str(root), environ={})
    assert ctx.conf_dirs == ("/opt/first", "/opt/a", "/opt/c")      # the good ones are still read
    problem, = locate.context_problems(ctx)
    assert problem.id == "locate.ld-so-conf-skipped"
    assert any(e.startswith("/etc/ld.so.conf.d/b.conf: ") and reason in e for e in problem.evidence), \
        problem.evidence


def test_a_device_include_on_the_host_is_never_opened():
    need(os.path.exists("/dev/zero"), "no /dev/zero")
    reader = locate._ConfReader(Root(None))
    assert reader.read("/dev/zero") == [] and reader.skipped == ["/dev/zero: is a character device, not a regular file"]


def test_a_missing_include_is_silent_as_in_ldconfig(tmp_path):
    """ldconfig (elf/ldconfig.c parse_conf): ENOENT is skipped without a word; a glob that
    matches nothing is GLOB_NOMATCH, also silent."""
    root = _conf_root(tmp_path, {"/etc/ld.so.conf": u"include /etc/nothing/*.conf\ninclude /etc/gone.conf\n/x\n"})
    ctx = locate.search_context(str(root), environ={})
    assert ctx.conf_dirs == ("/x",) and locate.context_problems(ctx) == ()


def test_an_include_directory_symlink_resolves_inside_the_root(tmp_path):
    root = _conf_root(tmp_path, {"/etc/ld.so.conf": u"include /etc/ld.so.conf.d/*.conf\n",
                                 "/real/a.conf": u"/opt/inside\n"})
    os.symlink("/real", str(root / "etc" / "ld.so.conf.d"))        # absolute: means <root>/real
    ctx = locate.search_context(str(root), environ={})
    assert ctx.conf_dirs == ("/opt/inside",)


@pytest.mark.parametrize("lines", [
    [], [""], ["include"], ["include "], ["include\t\t"], ["#include /x"], ["\0\0\0"], ["include \0"],
    ["hwcap"], ["HWCAP 1 x"], ["include" + " *" * 10000], [b"/bytes\xff"], [None, 7, "/ok"],
    ["/a" * 100000], ["\udcff\ud800"], ["include /etc/*/*/*/*"], [":::,,,   "],
])
def test_parse_ld_so_conf_never_raises(lines):
    def resolver(pattern):
        if "*" in pattern:
            raise OSError("resolver failed")
        return ["<" + pattern + ">"]
    assert isinstance(locate.parse_ld_so_conf(lines, resolver), list)


def test_ld_so_conf_lines_read_as_the_real_ldconfig_reads_them(tmp_path):
    """``ldconfig -r ROOT -N -X -v`` lists every directory it takes from the configuration
    ("DIR: (from FILE:LINE)"); the directories found here that exist in the root are the same."""
    need(os.path.exists("/sbin/ldconfig"), "no /sbin/ldconfig")
    root = _conf_root(tmp_path, {
        "/etc/ld.so.conf": u"/a\n/b/ \n/c//\n/a,b\n /d#x\n/e=libc6\ninclude /etc/ld.so.conf.d/*.conf\n"
                           u"HWCAP 1 x\n/f\t\n/missing\n/\n/g /h\n  # only a comment\n/i:/j\n",
        "/etc/ld.so.conf.d/x.conf": u"/b\n/k\n",
        "/etc/ld.so.conf.d/y.conf": u"include /etc/ld.so.conf.d/z.conf\n",
        "/etc/ld.so.conf.d/z.conf": u"/l\n"})
    for name in ("a", "b", "c", "a,b", "d", "e", "f", "g /h", "i:/j", "k", "l", "g", "h", "i", "j"):
        (root / name).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["/sbin/ldconfig", "-r", str(root), "-N", "-X", "-v"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30)
    truth = [line.split(": (from ", 1)[0] for line in proc.stdout.splitlines() if ": (from " in line]
    assert len(truth) >= 10
    ctx = locate.search_context(str(root), environ={})
    mine = [d for d in ctx.conf_dirs if os.path.isdir(str(root / d.lstrip("/")))]
    assert mine == truth


def test_parse_ld_so_conf_survives_a_failing_line_source():
    def lines():
        yield "/first"
        raise safeio.InputError("ld.so.conf x: cannot read: I/O error")
    assert locate.parse_ld_so_conf(lines(), lambda p: []) == ["/first"]
    assert locate.parse_ld_so_conf(42, lambda p: []) == []


@pytest.mark.parametrize("line, dirs", [
    # ldconfig's directive tests (elf/ldconfig.c parse_conf): "include"/"hwcap" then a blank
    ("include\t/x.conf", ["<inc /x.conf>"]), ("includes /x", ["includes /x"]),
    ("HwCap 0 nosegneg", []), ("hwcap\t1 x", []), ("hwcaps /x", ["hwcaps /x"]),
    ("include /a.conf\t/b.conf  /c.conf", ["<inc /a.conf>", "<inc /b.conf>", "<inc /c.conf>"]),
    ("/", []), ("///", []), ("=libc6", []), ("/x=libc6", ["/x"]), ("/x/ \t", ["/x"]),
])
def test_ld_so_conf_directives_as_ldconfig_reads_them(line, dirs):
    assert locate.parse_ld_so_conf([line], lambda p: ["<inc " + p + ">"]) == dirs


# --- krbd's sysfs file ------------------------------------------------------------------------------

@pytest.mark.parametrize("content, mask, reason_part", [
    ("0x3d\n", 0x3d, None),
    ("61\n", 61, None),
    ("061", 61, None),                                   # decimal with a leading zero: still a number
    ("0x_3d", None, "unexpected content '0x_3d'"),       # int(..., 0) would take it
    ("\u0661\u0662", None, "unexpected content"),        # Arabic-Indic digits: int() would take them
    ("9" * 5000, None, "unexpected content"),            # past Python's int-string limit
    ("0x1ffffffffffffffff", None, "unexpected content"),
    ("\x1b[31mred\n", None, "unexpected content '\\x1b[31mred\\n'"),
    ("", None, "unexpected content ''"),
])
def test_sysfs_contents(tmp_path, content, mask, reason_part):
    (tmp_path / "bus" / "rbd").mkdir(parents=True)
    (tmp_path / "bus" / "rbd" / "supported_features").write_text(content)
    got, reason = krbd.read_supported(str(tmp_path))
    assert got == mask
    if reason_part:
        assert reason_part in reason and "\n" not in reason
    else:
        assert reason is None


@pytest.mark.parametrize("make, reason", [
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("huge", "over the limit of 64 KiB for sysfs"),
])
def test_sysfs_file_that_is_not_small_and_regular(tmp_path, make, reason):
    (tmp_path / "bus" / "rbd").mkdir(parents=True)
    path = tmp_path / "bus" / "rbd" / "supported_features"
    if make == "fifo":
        os.mkfifo(str(path))
    else:
        with open(str(path), "wb") as handle:
            handle.truncate(1 << 30)
    got, text = krbd.read_supported(str(tmp_path))
    assert got is None and reason in text and "\n" not in text
    section, problems = krbd.section(str(tmp_path), None, 1)
    assert section["supported_features"] is None and problems == ()


# --- user-named paths: one line, the right words -------------------------------------------------------

@pytest.mark.parametrize("value, what, expected", [
    ("/no/such\nFAKE: forged second line", "--librbd", "/no/such\\nFAKE: forged second line: --librbd does not exist"),
    ("/no/such\x1b[2J", "LIBRBD_PROBE_LIBRBD", "/no/such\\x1b[2J: LIBRBD_PROBE_LIBRBD does not exist"),
    ("/no\u2028such", "--librados", "/no\\u2028such: --librados does not exist"),
    ("/x\0y", "--librbd", "/x\\x00y: --librbd: not a valid path (NUL byte)"),
    ("/dev/null", "--librbd", "/dev/null: --librbd is a character device, not a regular file"),
])
def test_check_explicit_is_one_line(value, what, expected):
    with pytest.raises(LocateError) as info:
        locate.check_explicit(value, what)
    assert str(info.value) == expected


@pytest.mark.parametrize("what, noun", [
    ("--conf", "configuration file"), ("--keyring", "keyring file"), ("--librbd", "library file"),
    ("LIBRBD_PROBE_LIBRADOS", "library file"), ("--baseline", "JSON report file"), ("--other", "file"),
])
def test_check_explicit_names_the_kind_of_input(tmp_path, what, noun):
    with pytest.raises(LocateError) as info:
        locate.check_explicit(str(tmp_path), what)
    assert str(info.value) == "{}: {} is a directory, not a {}".format(tmp_path, what, noun)


def test_check_explicit_fifo(tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(str(fifo))
    with pytest.raises(LocateError) as info:
        locate.check_explicit(str(fifo), "--conf")
    assert str(info.value) == "{}: --conf is a FIFO (named pipe), not a regular file".format(fifo)


def test_cli_conf_directory_and_librbd_newline(tmp_path):
    proc = run_cli(["--no-runtime", "--conf", str(tmp_path)], timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("--conf is a directory, not a configuration file"), proc.stderr
    proc = run_cli(["--no-runtime", "--librbd", "/no/such\nFAKE"], timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# --- loader: the consumers' closure under a hostile root -----------------------------------------------

def test_a_fifo_candidate_in_the_closure_is_skipped_not_opened(tmp_path, installed):
    root = _root_with_librbd(tmp_path, installed)
    lib = root / TRIPLET_DIR.lstrip("/")
    # librados.so.2 in the first directory of the search is a FIFO: skipped with its reason,
    # the next directory's copy is used
    first = root / "lib" / "x86_64-linux-gnu"
    first.mkdir(parents=True)
    os.mkfifo(str(first / "librados.so.2"))
    ctx = locate.search_context(Root(str(root)), environ={})
    closure = loader.build_closure(str(lib / "librbd.so.1"), ctx)
    assert "/lib/x86_64-linux-gnu/librados.so.2: is a FIFO (named pipe), not a regular file" in closure.skipped
    assert any(o.name == "librados.so.2" and o.target.startswith(TRIPLET_DIR) for o in closure.objects)


def test_a_fifo_main_object_or_preload(tmp_path, installed):
    fifo = tmp_path / "prog"
    os.mkfifo(str(fifo))
    ctx = locate.search_context(None, environ={})
    with pytest.raises(ElfError) as info:
        loader.build_closure(str(fifo), ctx)
    assert str(info.value).endswith("is a FIFO (named pipe), not a regular file")
    closure = loader.build_closure(installed["librbd"], ctx, preload=[str(fifo)])
    assert any("is a FIFO" in s and "cannot be preloaded" in s for s in closure.skipped)


# --- rootfs: Root.open reads through safeio ---------------------------------------------------------

def test_root_open_refuses_a_fifo_and_a_huge_file(tmp_path):
    os.mkfifo(str(tmp_path / "fifo"))
    with open(str(tmp_path / "big"), "wb") as handle:
        handle.truncate(1 << 30)
    root = Root(str(tmp_path))
    with pytest.raises(safeio.InputError) as info:
        root.open("/fifo")
    assert str(info.value) == "{}: is a FIFO (named pipe), not a regular file".format(tmp_path / "fifo")
    with pytest.raises(safeio.InputError) as info:
        root.open("/big", "rb", what="ld.so.conf")
    assert "1073741824 bytes, over the limit of 1 MiB for ld.so.conf" in str(info.value)
    with pytest.raises(ValueError):
        root.open("/big", "w")


def test_a_file_name_with_a_newline_in_the_root_stays_one_line(tmp_path, installed):
    """A stale copy whose name carries a newline and an escape sequence: the shadowed-copy
    problem names it escaped (the name is chosen by whoever wrote the tree)."""
    root = _root_with_librbd(tmp_path, installed)
    (root / "usr" / "lib").mkdir(exist_ok=True)
    os.link(os.path.realpath(installed["librbd"]), str(root / "usr" / "lib" / "librbd.so.1\nFAKE: \x1b[31mok"))
    proc, report = _scan_json(root)
    shadow = _problem(report, "shadowed-copy.librbd")
    assert "librbd.so.1\\nFAKE: \\x1b[31mok" in shadow["message"]
    for problem in report["problems"]:
        for text in [problem["message"], problem.get("fix") or ""] + list(problem.get("evidence") or ()):
            assert "\n" not in text and "\x1b" not in text, problem
