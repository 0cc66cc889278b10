"""What the ELF reader reads: version tables from a small first window grown on demand, .rodata
in pieces, and the results the same as readelf's whatever the window or the piece boundaries.

The referees are readelf (section sizes, -V) and, for .rodata, a plain ``re`` over the whole
section read by the test itself; the files are the installed client, the corpus builds and two
libraries compiled here with cc whose version tables are larger than the first window (no real
Ceph library has one: the largest among this host's libraries and the corpus, libnss3's
.gnu.version_d, is 1,764 bytes; libceph-common's .gnu.version_r is at most 1,184).
"""
import os
import re
import shutil
import subprocess

import pytest

import corpus
import stubs
from conftest import need
from librbd_probe import elf, identify
from test_elf import assert_matches_readelf, readelf_facts

_GENERIC = re.compile(rb"\x00(\d+\.\d+\.\d+)\x00")


def _sections(path):
    """{name: (offset, size)} from readelf -S (the referee for where a table lies)."""
    need(shutil.which("readelf") is not None, "readelf not installed (apt-get install binutils)")
    out = subprocess.run(["readelf", "-SW", path], stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, LC_ALL="C"), check=True).stdout
    found = {}
    for match in re.finditer(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", out):
        found[match.group(1)] = (int(match.group(2), 16), int(match.group(3), 16))
    assert found, out
    return found


class _Reads(object):
    """Records every _File.read (what, offset, length) while installed."""

    def __init__(self, monkeypatch):
        self.log = []
        original = elf._File.read

        def read(f, offset, length, what):
            self.log.append((what, offset, length))
            return original(f, offset, length, what)
        monkeypatch.setattr(elf._File, "read", read)

    def of(self, what):
        return [(offset, length) for w, offset, length in self.log if w == what]


# ---------------------------------------------------------------------------------------------
# Version tables larger than the first window: a library with 300 chained version definitions
# (each Elf_Verdef with its parent: 36 bytes) and one that calls a function of each, so it
# requires all 300 (an Elf_Vernaux of 16 bytes each).  What a library with a long symbol-version
# history looks like (this host's libc.so.6 defines 39 versions, libstdc++.so.6 48, libnss3 63),
# five times over.

_VERSIONS = 300


def _many_versions_sources():
    """{file: text}: the provider's C and version script, the consumer's C."""
    return {
        "defs.c": "".join("int f{0}(void) {{ return {0}; }}\n".format(i) for i in range(_VERSIONS)),
        "defs.map": "V_0 { global: f0; local: *; };\n" + "".join(
            "V_{0} {{ global: f{0}; }} V_{1};\n".format(i, i - 1) for i in range(1, _VERSIONS)),
        "uses.c": "".join("int f{}(void);\n".format(i) for i in range(_VERSIONS)) + "int all(void) { return 0" + "".join(
            " + f{}()".format(i) for i in range(_VERSIONS)) + "; }\n",
    }


def _build_many_versions(dest, sources):
    os.makedirs(dest, exist_ok=True)
    cc = stubs._cc()
    for name, text in sources.items():
        with open(os.path.join(dest, name), "w") as handle:
            handle.write(text)
    provider = os.path.join(dest, "libmanyver.so.1")
    consumer = os.path.join(dest, "libmanyneed.so.1")
    subprocess.run([cc, "-shared", "-fPIC", "-O0", "-g0", "-o", provider, "-Wl,-soname,libmanyver.so.1",
                    "-Wl,--version-script," + os.path.join(dest, "defs.map"), os.path.join(dest, "defs.c")],
                   check=True)
    subprocess.run([cc, "-shared", "-fPIC", "-O0", "-g0", "-o", consumer, "-Wl,-soname,libmanyneed.so.1",
                    os.path.join(dest, "uses.c"), provider], check=True)
    return [provider, consumer]


@pytest.fixture(scope="module")
def many_versions():
    sources = _many_versions_sources()
    return stubs._cached(["many-versions", sources], lambda dest: _build_many_versions(dest, sources))


def test_version_tables_larger_than_the_first_window_match_readelf(many_versions, monkeypatch):
    provider, consumer = many_versions
    verdef = _sections(provider)[".gnu.version_d"][1]
    verneed = _sections(consumer)[".gnu.version_r"][1]
    # the tables really are larger than the first window, so the reader has to grow it
    assert verdef > 2 * elf._FIRST_WINDOW and verneed > elf._FIRST_WINDOW, (verdef, verneed)
    for path in many_versions:
        assert_matches_readelf(elf.read_elf(path), path)
    assert len(elf.read_elf(provider).version_definitions) == _VERSIONS + 1          # and the base
    needed_file, needed_names = elf.read_elf(consumer).version_requirements[0]
    assert needed_file == "libmanyver.so.1"
    assert sorted(needed_names) == sorted("V_{}".format(i) for i in range(_VERSIONS))   # in ld's order
    # grown from the first window, never past what the records reach plus one more window
    for path, what, size in ((provider, "DT_VERDEF", verdef), (consumer, "DT_VERNEED", verneed)):
        reads = _Reads(monkeypatch)
        elf.read_elf(path)
        pieces = reads.of(what)
        assert pieces[0][1] == elf._FIRST_WINDOW and len(pieces) > 1, pieces
        assert size <= sum(length for _, length in pieces) <= 2 * size + elf._FIRST_WINDOW, (what, pieces)
        monkeypatch.undo()


def _versions_of(info):
    return (info.version_definitions, info.version_flags, info.version_requirements,
            tuple((s.name, s.version, s.version_hidden, s.version_file) for s in info.symbols))


@pytest.mark.parametrize("which", ["librados", "consumer", "provider"])
def test_every_first_window_size_reads_the_same_versions(which, installed, many_versions, monkeypatch):
    """Records straddling the first window at every offset: the window grows and the tables
    read as readelf -V shows them (librados: a verdef and a verneed table, 92 + 592 bytes)."""
    path = {"librados": installed["librados"], "provider": many_versions[0], "consumer": many_versions[1]}[which]
    facts = readelf_facts(path)
    tables = [extent for name, extent in _sections(path).items() if name in (".gnu.version_d", ".gnu.version_r")]
    reach = max(o + n for o, n in tables) - min(o for o, _ in tables)      # first table's start to the last's end
    reference = _versions_of(elf.read_elf(path))
    assert reference[0] == facts["version_definitions"] and reference[2] == facts["version_requirements"]
    sizes = sorted(set(list(range(1, 130)) + list(range(130, reach + 64, 7 if reach < 2000 else 97))))
    for size in sizes:
        monkeypatch.setattr(elf, "_FIRST_WINDOW", size)
        assert _versions_of(elf.read_elf(path)) == reference, size


def test_the_installed_librbd_reads_one_small_window_of_its_version_table(installed, monkeypatch):
    """librbd 16.2.15: DT_VERNEED is 784 bytes, but 399,184 bytes lie between it and the end of
    its PT_LOAD segment; the reader used to read all of them."""
    path = os.path.realpath(installed["librbd"])
    offset, size = _sections(path)[".gnu.version_r"]
    assert size < elf._FIRST_WINDOW
    reads = _Reads(monkeypatch)
    info = elf.read_elf(path)
    assert_matches_readelf(info, path)
    assert reads.of("DT_VERNEED") == [(offset, elf._FIRST_WINDOW)]
    # the rest of the scan's reads: each table readelf names, once, and nothing larger
    limit = max(_sections(path)[name][1] for name in (".dynsym", ".dynstr", ".gnu.version"))
    assert max(length for _, _, length in reads.log) <= max(limit, elf._FIRST_WINDOW)


# ---------------------------------------------------------------------------------------------
# .rodata read in pieces: a version string that straddles a piece boundary.  A copy of the real
# libceph-common 16.2.15 whose one version string ("\0" "16.2.15" "\0") is moved inside its
# .rodata onto each boundary of the default piece size and of the overlap: what a build whose
# .rodata happens to put CEPH_GIT_NICE_VER there looks like.

_NEEDLE = b"\x0016.2.15\x00"


def _patched_copy(installed, tmp_path):
    source = os.path.realpath(installed["libceph-common"])
    offset, size = _sections(source)[".rodata"]
    copy = str(tmp_path / "libceph-common.so.2")
    shutil.copyfile(source, copy)
    with open(copy, "rb") as handle:
        handle.seek(offset)
        rodata = handle.read(size)
    assert rodata.count(_NEEDLE) == 1 and [m.group(1) for m in _GENERIC.finditer(rodata)] == [b"16.2.15"]
    return copy, offset, rodata


def _expected(rodata):
    out = []
    for match in _GENERIC.finditer(rodata):
        value = match.group(1).decode()
        if value not in out:
            out.append(value)
    return out


def test_a_version_string_straddling_a_piece_boundary_is_found(installed, tmp_path):
    copy, offset, rodata = _patched_copy(installed, tmp_path)
    assert len(rodata) > 3 * elf._RODATA_CHUNK
    at = rodata.index(_NEEDLE)
    erased = rodata[:at + 1] + b"xx.x.xx" + rodata[at + 8:]
    assert _expected(erased) == []
    chunk = elf._RODATA_CHUNK
    places = set()
    for boundary in (chunk, 2 * chunk, chunk + 256, 2 * chunk + 256):
        places.update(range(boundary - len(_NEEDLE) - 1, boundary + 2))
    with open(copy, "r+b") as handle:
        for place in sorted(places):
            patched = erased[:place] + _NEEDLE + erased[place + len(_NEEDLE):]
            handle.seek(offset)
            handle.write(patched)
            handle.flush()
            expected = _expected(patched)
            assert "16.2.15" in expected, place
            assert elf.find_strings(copy, _GENERIC) == expected, place
            assert elf.find_strings(copy, identify.version_string_pattern()) == expected, place


CORPUS_COMMON = [(v, "amd64") for v in corpus.RELEASES] + list(corpus.FOREIGN)


@pytest.mark.parametrize("version,arch", CORPUS_COMMON)
def test_pieces_find_what_one_read_of_the_whole_section_finds(version, arch, monkeypatch):
    """Every real libceph-common of the corpus (and the installed one): the default pieces,
    small pieces and one read of the whole .rodata find the same strings, and no read is larger
    than a piece and its overlap."""
    path = corpus.library(version, "libceph-common", arch=arch)
    _, size = _sections(path)[".rodata"]
    whole = elf.find_strings(path, identify.version_string_pattern(), chunk=size)
    assert whole == [version]
    reads = _Reads(monkeypatch)
    assert elf.find_strings(path, identify.version_string_pattern()) == whole
    pieces = reads.of(".rodata")
    assert len(pieces) == -(-size // elf._RODATA_CHUNK) and max(n for _, n in pieces) <= elf._RODATA_CHUNK + 256
    for chunk in (4096, 10007):
        assert elf.find_strings(path, identify.version_string_pattern(), chunk=chunk) == whole
        assert elf.find_strings(path, _GENERIC, chunk=chunk) == whole
