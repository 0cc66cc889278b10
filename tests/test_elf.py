"""The static ELF reader against readelf on every real library, and on synthetic/corrupt files."""
import glob
import os
import random
import re
import shutil
import struct
import subprocess

import pytest

import corpus
import elfwriter
from librbd_probe import elf
from librbd_probe.errors import ElfError

_LINE = re.compile(r"^\s*\d+: ([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(?:\[[^]]*\]\s+)?(\w+)\s+(\S+)(?: \(\d+\))?$")


def readelf_symbols(path):
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        _, _, kind, bind, vis, ndx, name = match.groups()
        if not name or name.startswith("<") or kind == "SECTION":
            continue   # readelf names st_name=0 section symbols after their section; they have no name
        version, at = None, None
        if "@@" in name:
            name, version = name.split("@@", 1)
            at = "@@"
        elif "@" in name:
            name, version = name.split("@", 1)
            at = "@"
        defined = ndx != "UND"
        # readelf prints '@' for every versioned reference; '@' vs '@@' only means hidden
        # for definitions.
        rows.append((name, defined, kind, bind, vis, version, at if defined and version else None))
    return rows


def ours(path):
    info = elf.read_elf(path)
    rows = []
    for s in info.symbols:
        at = None
        version = s.version
        if s.defined and s.version == s.name:
            version = None          # a version's own definition symbol: readelf omits "@@NAME"
        elif s.defined and s.version:
            at = "@" if s.version_hidden else "@@"
        rows.append((s.name, s.defined, s.type if s.type != "GNU_IFUNC" else "IFUNC", s.binding if s.binding != "GNU_UNIQUE" else "UNIQUE",
                     s.visibility, version, at))
    return rows


def readelf_dynamic(path):
    out = subprocess.run(["readelf", "-d", "-h", "-W", path], stdout=subprocess.PIPE, universal_newlines=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", out)
    runpath = re.findall(r"\(RUNPATH\)\s+Library runpath: \[(.*)\]", out)
    return tuple(needed), (soname or [None])[0], tuple(p for r in runpath for p in r.split(":"))


def real_libraries():
    paths = [p for p in ("/usr/lib/x86_64-linux-gnu/librbd.so.1", "/usr/lib/x86_64-linux-gnu/librados.so.2",
                         "/usr/lib/x86_64-linux-gnu/ceph/libceph-common.so.2") if os.path.exists(p)]
    for root in sorted(glob.glob(os.path.join(corpus.CORPUS, "debian", "*", "root"))):
        for pattern in ("usr/lib/*/librbd.so.1", "usr/lib/*/librados.so.2", "usr/lib/*/ceph/libceph-common.so.*",
                        "usr/lib/python3/dist-packages/*.so"):
            paths.extend(sorted(glob.glob(os.path.join(root, pattern))))
    return [os.path.realpath(p) for p in paths]


REAL = real_libraries()


def test_corpus_covers_every_release():
    for version in corpus.RELEASES:
        corpus.library(version, "librbd")
    lib = corpus.library("16.2.15", "librbd", arch="arm64")
    assert elf.read_header(lib).machine == "aarch64"


@pytest.mark.parametrize("path", REAL, ids=[p.replace(corpus.CORPUS, "corpus") for p in REAL])
def test_symbols_match_readelf(path):
    assert ours(path) == readelf_symbols(path)
    needed, soname, runpath = readelf_dynamic(path)
    info = elf.read_header(path)
    assert (info.needed, info.soname, info.runpath) == (needed, soname, runpath)


def test_installed_librbd_facts(installed):
    info = elf.read_elf(installed["librbd"])
    assert info.machine == "x86-64" and info.elf_class == 64 and info.byte_order == "little"
    assert info.soname == "librbd.so.1" and "librados.so.2" in info.needed
    assert re.match(r"^[0-9a-f]{40}$", info.build_id)
    rados = elf.read_elf(installed["librados"])
    assert set(rados.version_definitions) >= {"LIBRADOS_PRIVATE", "LIBRADOS_14.2.0"}
    stat = [s for s in rados.symbols if s.name == "rados_ioctx_pool_stat"]
    assert sorted((s.version or "", s.version_hidden) for s in stat) == [("", True), ("LIBRADOS_14.2.0", False)]
    assert "rados_ioctx_pool_stat" in elf.defined_names(rados)


def _strip_section_headers(src, dst):
    shutil.copy(src, dst)
    with open(dst, "r+b") as handle:
        ident = handle.read(16)
        e = "<" if ident[5] == 1 else ">"
        if ident[4] == 2:
            handle.seek(0x28)
            handle.write(struct.pack(e + "Q", 0))
            handle.seek(0x3A)
        else:
            handle.seek(0x20)
            handle.write(struct.pack(e + "I", 0))
            handle.seek(0x2E)
        handle.write(struct.pack(e + "HHH", 0, 0, 0))


@pytest.mark.parametrize("name", ["librbd", "librados"])
def test_stripped_section_headers_same_symbols(installed, tmp_path, name):
    stripped = str(tmp_path / "stripped.so")
    _strip_section_headers(os.path.realpath(installed[name]), stripped)
    info = elf.read_elf(stripped)
    assert not info.has_section_headers
    assert info.symbols == elf.read_elf(installed[name]).symbols   # counted through DT_GNU_HASH


def test_prefix_filter_equals_full_read(installed):
    full = elf.read_elf(installed["libceph-common"])
    part = elf.read_elf(installed["libceph-common"], name_filter=(b"ceph_ver", b"_Z19ceph_"))
    assert part.symbols == tuple(s for s in full.symbols if s.name.startswith(("ceph_ver", "_Z19ceph_")))
    assert any(s.name.startswith("ceph_ver__") for s in part.symbols)


def test_rodata_version_string(installed):
    assert elf.find_strings(installed["libceph-common"], rb"\x00(\d+\.\d+\.\d+)\x00") == ["16.2.15"]


@pytest.mark.parametrize("cls, order, machine, name", [
    (32, "little", 3, "i386"), (64, "big", 22, "s390x"), (64, "big", 21, "ppc64"), (64, "little", 21, "ppc64le"),
    (32, "big", 20, "ppc"), (64, "little", 183, "aarch64"), (64, "little", 243, "riscv64"), (64, "little", 9999, "unknown(9999)")])
@pytest.mark.parametrize("headers", [True, False])
def test_synthetic(tmp_path, cls, order, machine, name, headers):
    data = elfwriter.build(cls, order, machine, soname="librbd.so.1", needed=("librados.so.2",), runpath="$ORIGIN:/opt/x",
                           symbols=[("rbd_create", True, "FUNC", "GLOBAL", 2), ("rbd_old", True, "FUNC", "WEAK", 0x8002),
                                    ("rados_create", False, "FUNC", "GLOBAL", None)],
                           versions=("LIBRBD_1",), section_headers=headers)
    path = tmp_path / "lib.so"
    path.write_bytes(data)
    info = elf.read_elf(str(path))
    assert (info.elf_class, info.byte_order, info.machine) == (cls, order, name)
    assert info.soname == "librbd.so.1" and info.needed == ("librados.so.2",) and info.runpath == ("$ORIGIN", "/opt/x")
    assert info.has_section_headers is headers
    got = [(s.name, s.defined, s.binding, s.version, s.version_hidden) for s in info.symbols]
    assert got == [("rbd_create", True, "GLOBAL", "LIBRBD_1", False), ("rbd_old", True, "WEAK", "LIBRBD_1", True),
                   ("rados_create", False, "GLOBAL", None, False)]


def _bad(tmp_path, installed):
    with open(os.path.realpath(installed["librbd"]), "rb") as handle:
        head = handle.read(1 << 16)
    cases = {"empty": b"", "magic": b"MZ\x90\x00" + b"\0" * 60, "short-ident": b"\x7fELF\x02",
             "bad-class": b"\x7fELF\x07\x01" + b"\0" * 58, "header-only": head[:64], "truncated": head[:5000]}
    bogus = bytearray(elfwriter.build())
    struct.pack_into("<Q", bogus, 64 + 56 + 8, 10 ** 9)     # PT_DYNAMIC p_offset far outside the file
    cases["dynamic-outside"] = bytes(bogus)
    out = {}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        out[name] = str(path)
    return out


@pytest.mark.parametrize("case, words", [
    ("empty", "empty"), ("magic", "not an ELF file"), ("short-ident", "truncated"), ("bad-class", "unsupported ELF class"),
    ("header-only", "truncated"), ("truncated", "truncated"), ("dynamic-outside", "truncated or corrupt")])
def test_corrupt_files_raise_elf_error(tmp_path, installed, case, words):
    path = _bad(tmp_path, installed)[case]
    with pytest.raises(ElfError) as info:
        elf.read_elf(path)
    assert words in str(info.value) and path in str(info.value)
    assert isinstance(info.value, ValueError)


def test_filesystem_errors(tmp_path):
    for path, words in ((tmp_path, "is a directory"), (tmp_path / "missing", "no such file")):
        with pytest.raises(ElfError) as info:
            elf.read_elf(str(path))
        assert words in str(info.value)
    link = tmp_path / "loop"
    os.symlink(str(link), str(link))
    with pytest.raises(ElfError):
        elf.read_elf(str(link))


def test_fuzzed_headers_only_elf_error(installed, tmp_path):
    with open(os.path.realpath(installed["librados"]), "rb") as handle:
        original = handle.read()
    rng = random.Random(20261123)
    path = tmp_path / "fuzz.so"
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        data = bytearray(original[:1 << 16])
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(0, 512)] = rng.randrange(256)
        path.write_bytes(bytes(data) + original[1 << 16:] if rng.random() < 0.5 else bytes(data))
        try:
            elf.read_elf(str(path))
            outcomes["ok"] += 1
        except ElfError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0   # the fuzzing did reach the error paths
