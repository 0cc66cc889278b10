"""Hostile ELF files (issue 13): headers that claim far more than the file holds, record chains
that loop or overlap, and valid-looking files with nothing usable in them.

Every hostile file is the REAL librbd (the installed 16.2.15) with a few header fields patched
(the builders below parse the file with ``struct`` on their own, not with the code under test),
grown to 1 GiB with a sparse hole where a claim needs the file to be that large.  Each case
runs in a child process with a wall-clock timeout and an address-space limit (RLIMIT_AS), and
reports its own peak RSS (``ru_maxrss``), so a reader that sizes memory by a header claim, or
a walk that goes quadratic, fails the test instead of the machine.  What readelf (binutils)
and the real loader (dlopen) say about the patched file is the outside truth that the file
is corrupt or unusable.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest

from conftest import INSTALLED, PROJECT, need

GIB = 1 << 30
MIB = 1 << 20
PT_NULL, PT_LOAD, PT_DYNAMIC = 0, 1, 2
DT_NULL, DT_STRSZ, DT_VERNEED, DT_VERNEEDNUM = 0, 10, 0x6FFFFFFE, 0x6FFFFFFF
SHT_DYNSYM = 11

# Bounds of one hostile case (the fuzz contract is 100 ms / 64 MiB for inputs up to 1 MiB;
# these files are 1 GiB sparse, and the child includes the interpreter and the package).
TIMEOUT = 20.0
CASE_SECONDS = 1.0
RSS_MIB = 96
AS_LIMIT = 1536 * MIB


# --- builders: the real librbd, patched ------------------------------------------------------

class Real(object):
    """Offsets of the fields the cases patch, parsed from the real (64-bit LSB) file."""

    def __init__(self, path):
        with open(path, "rb") as handle:
            self.data = bytearray(handle.read())
        data = self.data
        assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
        (self.e_phoff, self.e_shoff) = struct.unpack_from("<QQ", data, 32)
        self.e_phentsize, self.e_phnum, self.e_shentsize, self.e_shnum = struct.unpack_from("<HHHH", data, 54)
        self.phdrs = []
        for i in range(self.e_phnum):
            at = self.e_phoff + i * self.e_phentsize
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data, at)
            self.phdrs.append((at, p_type, p_offset, p_vaddr, p_filesz))
        dyn = [p for p in self.phdrs if p[1] == PT_DYNAMIC][0]
        self.dynamic_phdr = dyn[0]
        self.dyn = []                                   # (file offset of the entry, tag, value)
        for pos in range(dyn[2], dyn[2] + dyn[4], 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            self.dyn.append((pos, tag, value))
            if tag == DT_NULL:
                break
        self.shdrs = []
        for i in range(self.e_shnum):
            at = self.e_shoff + i * self.e_shentsize
            sh_name, sh_type, _, _, sh_offset, sh_size, _, _, _, sh_entsize = struct.unpack_from(
                "<IIQQQQIIQQ", data, at)
            self.shdrs.append((at, sh_type, sh_offset, sh_size, sh_entsize))

    def tag_entry(self, tag):
        return [e for e in self.dyn if e[1] == tag][0]

    def offset_of(self, vaddr):
        for _, p_type, p_offset, p_vaddr, p_filesz in self.phdrs:
            if p_type == PT_LOAD and p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        raise AssertionError("0x{:x} outside every PT_LOAD".format(vaddr))

    def set_tag(self, tag, value):
        pos = self.tag_entry(tag)[0]
        struct.pack_into("<Q", self.data, pos + 8, value)

    def write(self, path, size=None):
        with open(path, "wb") as handle:
            handle.write(self.data)
        if size is not None:
            os.truncate(path, size)                     # a sparse hole: no blocks, no RSS
        return path


@pytest.fixture(scope="module")
def real():
    need(os.path.exists(INSTALLED["librbd"]), "librbd1 not installed (apt-get install librbd1)")
    return os.path.realpath(INSTALLED["librbd"])


def strsz_claim(real, path):
    """DT_STRSZ of 1 GiB; the file is grown (sparse) so the claim fits inside it."""
    r = Real(real)
    r.set_tag(DT_STRSZ, GIB)
    return r.write(path, len(r.data) + GIB + MIB)


def dynamic_claim(real, path):
    """PT_DYNAMIC p_filesz of 1 GiB (the entries themselves end with DT_NULL as before)."""
    r = Real(real)
    struct.pack_into("<QQ", r.data, r.dynamic_phdr + 32, GIB, GIB)     # p_filesz, p_memsz
    dyn_offset = struct.unpack_from("<Q", r.data, r.dynamic_phdr + 8)[0]
    return r.write(path, dyn_offset + GIB + MIB)


def shdr_claim(real, path):
    """A section-header table of 65535 entries of 16 KiB each (1 GiB) at the real e_shoff."""
    r = Real(real)
    struct.pack_into("<HH", r.data, 58, 16384, 65535)                  # e_shentsize, e_shnum
    struct.pack_into("<H", r.data, 62, 0)                              # e_shstrndx
    return r.write(path, r.e_shoff + 16384 * 65535 + MIB)


def verneed_chain(real, path, records=1000):
    """``records`` Elf64_Verneed with vn_cnt 0xffff sharing one chain of 65535 Elf64_Vernaux
    that overlap (vna_next 4, less than the 16-byte record): a quadratic walk for a naive
    reader, 1000 x 65535 steps.  Written over .gnu.version_r and what follows it."""
    r = Real(real)
    start = r.offset_of(r.tag_entry(DT_VERNEED)[2])
    r.set_tag(DT_VERNEEDNUM, records)
    aux_start = start + 16 * records
    for i in range(records):
        at = start + 16 * i
        # vn_version 1, vn_cnt 0xffff, vn_file 1 (a real string offset), vn_aux, vn_next 16
        struct.pack_into("<HHIII", r.data, at, 1, 0xFFFF, 1, aux_start - at, 16)
    struct.pack_into("<HHIII", r.data, start + 16 * (records - 1), 1, 0xFFFF, 1, 16, 0)
    # every word 4: vna_hash 4, vna_flags 4, vna_other 0, vna_name 4, vna_next 4
    for k in range(65535 + 4):
        struct.pack_into("<I", r.data, aux_start + 4 * k, 4)
    return r.write(path)


def verneed_shared(real, path, records=1000, chain=20000):
    """``records`` Elf64_Verneed (vn_cnt 0xffff) whose vn_aux all lead into ONE well-formed
    chain of ``chain`` Elf64_Vernaux (vna_next 16): no record overlaps another, yet a naive
    walk repeats the chain for every requirement (20 million steps)."""
    r = Real(real)
    start = r.offset_of(r.tag_entry(DT_VERNEED)[2])
    r.set_tag(DT_VERNEEDNUM, records)
    aux_start = start + 16 * records
    for i in range(records):
        at = start + 16 * i
        struct.pack_into("<HHIII", r.data, at, 1, 0xFFFF, 1, aux_start - at, 16 if i < records - 1 else 0)
    for k in range(chain):
        struct.pack_into("<IHHII", r.data, aux_start + 16 * k, 4, 0, 2, 1, 16 if k < chain - 1 else 0)
    return r.write(path)


def verneed_loop(real, path):
    """Two requirements whose vn_aux reach the same Elf64_Vernaux, and a vn_next of
    2**32 - 16 (what a 32-bit pointer walk would take for "back to the previous record";
    on a 64-bit loader it points 4 GiB past the table)."""
    r = Real(real)
    start = r.offset_of(r.tag_entry(DT_VERNEED)[2])
    r.set_tag(DT_VERNEEDNUM, 0xFFFF)
    struct.pack_into("<HHIII", r.data, start, 1, 0xFFFF, 1, 32, 16)
    struct.pack_into("<HHIII", r.data, start + 16, 1, 0xFFFF, 1, 16, (1 << 32) - 16)
    struct.pack_into("<IHHII", r.data, start + 32, 4, 0, 2, 1, 0)
    return r.write(path)


def header_over_zeros(real, path):
    """The real ELF header (64 bytes) followed by 1 GiB of zeros (a sparse hole)."""
    with open(real, "rb") as handle:
        head = handle.read(64)
    with open(path, "wb") as handle:
        handle.write(head)
    os.truncate(path, GIB)
    return path


def no_dynamic(real, path):
    """PT_DYNAMIC turned into PT_NULL: glibc refuses 'object file has no dynamic section'."""
    r = Real(real)
    struct.pack_into("<I", r.data, r.dynamic_phdr, PT_NULL)
    return r.write(path)


def no_load(real, path):
    """Every PT_LOAD turned into PT_NULL: 'object file has no loadable segments'."""
    r = Real(real)
    for at, p_type, _, _, _ in r.phdrs:
        if p_type == PT_LOAD:
            struct.pack_into("<I", r.data, at, PT_NULL)
    return r.write(path)


def no_symbols(real, path):
    """.dynsym cut to its null entry (sh_size 24): readelf lists one entry, no symbol."""
    r = Real(real)
    at = [s for s in r.shdrs if s[1] == SHT_DYNSYM][0][0]
    struct.pack_into("<Q", r.data, at + 32, 24)
    return r.write(path)


def dynsym_claim(real, path):
    """.dynsym's sh_size claims 1 GiB (44 million entries; the file is grown to hold them)."""
    r = Real(real)
    at = [s for s in r.shdrs if s[1] == SHT_DYNSYM][0][0]
    struct.pack_into("<Q", r.data, at + 32, GIB)
    return r.write(path, len(r.data) + GIB + MIB)


def dynsym_claim_small(real, path):
    """.dynsym's sh_size claims 96 MiB (4 million entries, under any count limit) inside the
    file, but past the PT_LOAD segment that holds DT_SYMTAB."""
    r = Real(real)
    at = [s for s in r.shdrs if s[1] == SHT_DYNSYM][0][0]
    struct.pack_into("<Q", r.data, at + 32, 96 * MIB)
    return r.write(path, len(r.data) + 96 * MIB + MIB)


def gnu_hash_claim(real, path, nbuckets=1 << 28):
    """Section headers stripped (so the loader's hash table counts the symbols) and the
    DT_GNU_HASH bucket count claiming ``nbuckets`` (1 GiB of buckets by default)."""
    r = Real(real)
    struct.pack_into("<Q", r.data, 40, 0)                              # e_shoff
    struct.pack_into("<HHH", r.data, 58, 0, 0, 0)                      # e_shentsize, e_shnum, e_shstrndx
    at = r.offset_of(r.tag_entry(0x6FFFFEF5)[2])
    struct.pack_into("<I", r.data, at, nbuckets)
    return r.write(path, len(r.data) + GIB + MIB)


def padded(real, path):
    """The real file with 1 GiB of zeros appended (sparse): nothing claims the padding."""
    shutil.copyfile(real, path)
    os.truncate(path, os.path.getsize(real) + GIB)
    return path


# --- running a case under bounds -------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    from librbd_probe import elf
    from librbd_probe.errors import ElfError
    path = sys.argv[2]
    out = {}
    for name, call in (
            ("read_elf", lambda: elf.read_elf(path, name_filter=(b"rbd_", b"rados_"), defined_only=True)),
            ("read_elf_all", lambda: elf.read_elf(path)),
            ("read_relocations", lambda: elf.read_relocations(path)),
            ("sweep_dynamic", lambda: elf.sweep_dynamic(path, (b"ceph_ver",)))):
        start = time.perf_counter()
        try:
            value = call()
            result = {"ok": True}
            if name.startswith("read_elf"):
                result.update(symbols=sorted(s.name for s in value.symbols), needed=list(value.needed),
                              soname=value.soname, notes=list(value.notes), load_segments=value.load_segments,
                              has_dynamic=value.has_dynamic, symbol_count=value.symbol_count,
                              requirements=[list(r) for r in value.version_requirements])
            elif name == "sweep_dynamic":
                result.update(needed=list(value[0]), soname=value[2])
        except ElfError as exc:
            result = {"ok": False, "error": str(exc)}
        result["seconds"] = time.perf_counter() - start
        out[name] = result
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))
""")


def _limit_address_space():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def read_bounded(path):
    """The four reader entry points on ``path`` in a child under RLIMIT_AS and a timeout;
    any exception other than ElfError is a traceback on stderr and fails here."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, PROJECT, path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT,
                          preexec_fn=_limit_address_space)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["rss_mib"] < RSS_MIB, "peak RSS {:.0f} MiB".format(out["rss_mib"])
    for name in ("read_elf", "read_elf_all", "read_relocations", "sweep_dynamic"):
        assert out[name]["seconds"] < CASE_SECONDS, (name, out[name])
        if not out[name]["ok"]:
            assert "\n" not in out[name]["error"] and out[name]["error"].startswith(path + ": ")
    return out


def readelf(args, path):
    need(shutil.which("readelf") is not None, "readelf not installed (apt-get install binutils)")
    proc = subprocess.run(["readelf", "-W"] + list(args) + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, env=dict(os.environ, LC_ALL="C"))
    return proc.stdout, proc.stderr


def readelf_needed(path):
    out, _ = readelf(["-d"], path)
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def readelf_defined(path, prefixes=("rbd_", "rados_")):
    """Names of defined dynamic symbols with one of ``prefixes`` (version suffix dropped)."""
    out, _ = readelf(["--dyn-syms"], path)
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].endswith(":") and parts[6] != "UND":
            name = parts[7].split("@", 1)[0]
            if name.startswith(prefixes):
                names.add(name)
    return names


_DLOPEN = "import ctypes, sys\ntry:\n    ctypes.CDLL(sys.argv[1])\n    print('loaded')\nexcept OSError as exc:\n    print(exc)\n"


def dlopen(path):
    """What the real loader says about ``path`` (in a child: a bad file must not hurt us)."""
    proc = subprocess.run([sys.executable, "-c", _DLOPEN, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    return proc.stdout.strip()


def dlopen_status(path):
    """The exit status of a child that dlopens ``path`` (negative: killed by that signal)."""
    return subprocess.run([sys.executable, "-c", _DLOPEN, path], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=60).returncode


@pytest.fixture(scope="module")
def original(real):
    return read_bounded(real)


# --- 1. claims far beyond what is there: bounded reads, same answer as the loader's -----------

@pytest.mark.parametrize("build, note", [
    (strsz_claim, "DT_STRSZ 1073741824 runs past its PT_LOAD segment"),
    (dynsym_claim, "SHT_DYNSYM claims 44739242 entries"),
    (dynsym_claim_small, "SHT_DYNSYM claims 4194304 entries"),
    (dynamic_claim, None),
    (shdr_claim, "section headers ignored: e_shentsize 16384"),
])
def test_a_gigabyte_claim_in_a_sparse_file_is_read_within_bounds(real, original, tmp_path, build, note):
    path = build(real, str(tmp_path / "librbd.so.1"))
    assert os.path.getsize(path) > (GIB if build is not dynsym_claim_small else 96 * MIB)
    assert os.stat(path).st_blocks * 512 < 64 * MIB            # sparse: the hole costs nothing
    out = read_bounded(path)
    # The real loader still loads every one of these files ...
    assert dlopen(path) == "loaded"
    # ... so the reader reads them, and what it reads is what readelf shows of the patched file.
    for name in ("read_elf", "read_elf_all", "read_relocations", "sweep_dynamic"):
        assert out[name]["ok"], out[name]
    assert out["read_elf"]["needed"] == out["sweep_dynamic"]["needed"] == readelf_needed(real)
    if build in (strsz_claim, dynamic_claim):
        assert readelf_needed(path) == readelf_needed(real)
    assert set(out["read_elf"]["symbols"]) == readelf_defined(real)
    assert out["read_elf"]["symbols"] == original["read_elf"]["symbols"]
    if note:
        assert any(n.startswith(note) for n in out["read_elf"]["notes"]), out["read_elf"]["notes"]
    else:
        assert out["read_elf"]["notes"] == []


def test_readelf_too_calls_the_section_header_claim_corrupt(real, tmp_path):
    path = shdr_claim(real, str(tmp_path / "librbd.so.1"))
    _, err = readelf(["-S"], path)
    assert "e_shentsize field in the ELF header is larger than the size of an ELF section header" in err


@pytest.mark.parametrize("build", [strsz_claim, dynamic_claim, shdr_claim])
def test_the_claims_are_a_gigabyte_inside_the_file(real, tmp_path, build):
    """Negative control: each patched header really claims 1 GiB that lies inside the file,
    so only a reader that sizes memory by the file's content (not by the claim) passes."""
    path = build(real, str(tmp_path / "librbd.so.1"))
    r = Real(real)
    with open(path, "rb") as handle:
        head = handle.read(r.e_shoff)                       # header, phdrs, dynamic section
    size = os.path.getsize(path)
    if build is strsz_claim:
        pos = r.tag_entry(DT_STRSZ)[0]
        strtab = r.offset_of(r.tag_entry(5)[2])             # DT_STRTAB
        assert struct.unpack_from("<Q", head, pos + 8)[0] == GIB and strtab + GIB <= size
    elif build is dynamic_claim:
        p_offset, _, _, p_filesz = struct.unpack_from("<QQQQ", head, r.dynamic_phdr + 8)
        assert p_filesz == GIB and p_offset + p_filesz <= size
    else:
        e_shentsize, e_shnum = struct.unpack_from("<HH", head, 58)
        assert e_shentsize * e_shnum >= GIB - MIB and r.e_shoff + e_shentsize * e_shnum <= size


@pytest.mark.parametrize("nbuckets", [1 << 28, 3000000])
def test_a_gnu_hash_bucket_count_claim_is_refused_within_bounds(real, tmp_path, nbuckets):
    """1 GiB of buckets (over the symbol limit) or 12 MB (under it, but past the segment)."""
    path = gnu_hash_claim(real, str(tmp_path / "librbd.so.1"), nbuckets)
    out = read_bounded(path)
    assert not out["read_elf_all"]["ok"] and "DT_GNU_HASH" in out["read_elf_all"]["error"], out["read_elf_all"]
    assert out["sweep_dynamic"]["ok"]                          # the dynamic section itself is intact
    # the real loader trusts the claim and dies of it (SIGSEGV); readelf -D lists no symbol
    assert dlopen_status(path) < 0
    out, _ = readelf(["-D", "--dyn-syms"], path)
    assert not [line for line in out.splitlines() if line.strip()[:1].isdigit()]


# --- 2. record chains: linear, whatever the links say ------------------------------------------

@pytest.mark.parametrize("build, error", [
    (verneed_chain, "vna_next 4 overlaps it"),
    (verneed_shared, "more Elf_Vernaux steps than the table holds"),
    (verneed_loop, "truncated or corrupt verneed record"),
])
def test_version_requirement_chains_are_walked_once(real, tmp_path, build, error):
    path = build(real, str(tmp_path / "librbd.so.1"))
    out = read_bounded(path)                                    # each entry point < 1 s
    for name in ("read_elf", "read_elf_all"):
        assert not out[name]["ok"] and error in out[name]["error"], out[name]
    # a sweep reads the dynamic section only, which is intact (the relocations the records
    # were written over may read or fail, with an ElfError only: read_bounded checks that)
    assert out["sweep_dynamic"]["ok"]


def test_readelf_reports_the_looping_requirement_as_corrupt(real, tmp_path):
    path = verneed_loop(real, str(tmp_path / "librbd.so.1"))
    _, err = readelf(["-V"], path)
    assert "extends past end of file for version need" in err


# --- 3. garbage is never success -----------------------------------------------------------

_RSS_CLI = ("import atexit, resource, runpy, sys\n"
            "atexit.register(lambda: sys.stderr.write('PEAK-RSS-KIB %d\\n' % "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
            "sys.argv = ['librbd-probe'] + sys.argv[1:]\n"
            "runpy.run_module('librbd_probe', run_name='__main__', alter_sys=True)\n")


def run_cli_bounded(args):
    env = dict(os.environ, PYTHONPATH=PROJECT)
    env.pop("LIBRBD_PROBE_LIBRBD", None)
    proc = subprocess.run([sys.executable, "-c", _RSS_CLI] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=env, timeout=TIMEOUT,
                          preexec_fn=_limit_address_space, cwd=PROJECT)
    lines = proc.stderr.splitlines()
    rss = [int(line.split()[1]) for line in lines if line.startswith("PEAK-RSS-KIB ")]
    assert rss and rss[0] / 1024.0 < RSS_MIB, proc.stderr
    return proc.returncode, proc.stdout, [line for line in lines if not line.startswith("PEAK-RSS-KIB ")]


def _statuses(report):
    caps = report["capabilities"]
    rows = caps.values() if isinstance(caps, dict) else caps
    return [row["status"] for row in rows]


@pytest.mark.parametrize("build, missing, loader_says", [
    (header_over_zeros, "no loadable segments", "object file has no loadable segments"),
    (no_load, "no loadable segments", "object file has no loadable segments"),
    (no_dynamic, "no dynamic section", "object file has no dynamic section"),
    (no_symbols, "no dynamic symbols", None),
])
def test_a_library_with_nothing_usable_is_unknown_and_exit_3(real, tmp_path, build, missing, loader_says):
    path = build(real, str(tmp_path / "librbd.so.1"))
    if loader_says:
        assert dlopen(path).endswith(loader_says)               # the real loader refuses it
    code, stdout, err = run_cli_bounded(["--librbd", path, "--no-runtime", "--json"])
    assert code == 3, err
    report = json.loads(stdout)
    statuses = _statuses(report)
    assert len(statuses) > 20 and set(statuses) == {"unknown"}
    for cap in (report["capabilities"].values() if isinstance(report["capabilities"], dict)
                else report["capabilities"]):
        assert missing in cap["reason"] and "librbd.so.1" in cap["reason"], cap
    problems = [p for p in report["problems"] if p["id"] == "library.unusable-elf"]
    assert len(problems) == 1 and path in problems[0]["message"] and missing in problems[0]["message"]
    assert problems[0]["evidence"][0] == path
    assert report["release"]["confidence"] == "none"
    assert len(err) == 1 and err[0].startswith("librbd-probe: error: " + path) and missing in err[0], err
    # a requirement never passes on unknown, and the runtime probe does not try to load it
    code, stdout, err = run_cli_bounded(["--librbd", path, "--json", "--require", "create.format2"])
    assert code == 3, err
    assert json.loads(stdout)["runtime"]["skipped"] == "librbd is not a usable shared library"


def test_readelf_agrees_there_is_nothing_there(real, tmp_path):
    out, _ = readelf(["-d"], no_dynamic(real, str(tmp_path / "a.so")))
    assert "There is no dynamic section in this file." in out
    out, _ = readelf(["-l"], no_load(real, str(tmp_path / "b.so")))
    assert " LOAD " not in out and " NULL " in out
    out, _ = readelf(["-l"], header_over_zeros(real, str(tmp_path / "c.so")))
    assert " LOAD " not in out and " DYNAMIC " not in out
    out, _ = readelf(["--dyn-syms"], no_symbols(real, str(tmp_path / "d.so")))
    assert "Symbol table '.dynsym' contains 1 entry:" in out


def test_the_untouched_library_is_usable(real, original):
    """Negative control: the same checks pass the real file."""
    assert original["read_elf"]["ok"] and original["read_elf"]["load_segments"] == 4
    assert original["read_elf"]["has_dynamic"] and original["read_elf_all"]["symbol_count"] > 1000
    code, stdout, err = run_cli_bounded(["--librbd", real, "--no-runtime", "--json"])
    assert code == 0, err
    report = json.loads(stdout)
    assert "yes" in _statuses(report)
    assert not [p for p in report["problems"] if p["id"].startswith("library.")]


def test_a_bounded_claim_is_a_stated_problem(real, tmp_path):
    path = strsz_claim(real, str(tmp_path / "librbd.so.1"))
    code, stdout, err = run_cli_bounded(["--librbd", path, "--no-runtime", "--json"])
    report = json.loads(stdout)
    notes = [p for p in report["problems"] if p["id"] == "library.elf-claim-bounded"]
    assert len(notes) == 1 and "DT_STRSZ 1073741824" in notes[0]["message"] and notes[0]["severity"] == "warning"
    assert code == 0 and "yes" in _statuses(report), err


# --- 4. a 1 GiB padded copy reads like the original ----------------------------------------

def test_a_padded_copy_reads_as_the_original(real, original, tmp_path):
    path = padded(real, str(tmp_path / "librbd.so.1"))
    out = read_bounded(path)
    for name in ("read_elf", "read_elf_all", "sweep_dynamic"):
        assert out[name]["ok"] and out[name]["needed"] == original[name]["needed"]
    assert out["read_elf_all"]["symbols"] == original["read_elf_all"]["symbols"]
    assert out["read_elf"]["notes"] == []


def test_a_copy_with_a_gigabyte_hole_inside_reads_as_the_original(real, original, tmp_path):
    """The hole before the last PT_LOAD (bench/bench_padded.py --inserted): every later
    offset moved by 1 GiB; readelf reads it without a word and the loader loads it."""
    sys.path.insert(0, os.path.join(PROJECT, "bench"))
    try:
        import bench_padded
    finally:
        sys.path.pop(0)
    path = bench_padded.make_inserted(real, str(tmp_path))
    assert os.path.getsize(path) == os.path.getsize(real) + GIB
    _, err = readelf(["-a"], path)
    assert err == ""
    assert readelf_needed(path) == readelf_needed(real) and readelf_defined(path) == readelf_defined(real)
    assert dlopen(path) == "loaded"
    out = read_bounded(path)
    for name in ("read_elf", "read_elf_all", "sweep_dynamic"):
        assert out[name]["ok"] and out[name]["needed"] == original[name]["needed"]
    assert out["read_elf_all"]["symbols"] == original["read_elf_all"]["symbols"]
    assert out["read_elf_all"]["requirements"] == original["read_elf_all"]["requirements"]


def test_names_that_all_run_to_the_end_of_one_string_table(tmp_path):
    """A 1 MiB-class file (the fuzz contract's size): 20,000 symbols whose names have no NUL
    until the end of the string table.  A reader without a scan budget would build 20,000
    strings of 70 KB on average (1.4 GB)."""
    import elfwriter
    from elfwriter import Sym
    image = elfwriter.build(symbols=[Sym("s%05d" % i) for i in range(20000)], soname="libhostile.so.1")
    path = image.write(tmp_path / "libhostile.so.1")
    r = Real(path)
    start, size = r.offset_of(r.tag_entry(5)[2]), r.tag_entry(DT_STRSZ)[2]
    table = r.data[start:start + size]
    assert table.count(b"\0") > 20000
    r.data[start:start + size - 1] = table[:-1].replace(b"\0", b"A")
    r.write(path)
    assert os.path.getsize(path) < 2 * MIB
    out = read_bounded(path)
    assert not out["read_elf_all"]["ok"] and "names overlap" in out["read_elf_all"]["error"], out["read_elf_all"]
    assert out["read_elf_all"]["seconds"] < 0.5


def test_version_definitions_that_overlap_are_refused(tmp_path):
    """Elf64_Verdef records are 20 bytes: a vd_next of 4 makes each overlap the next, and a
    DT_VERDEFNUM of 65535 asks for that many (synthetic library, tests/elfwriter.py)."""
    import elfwriter
    from elfwriter import Sym
    image = elfwriter.build(symbols=[Sym("f", version="V1")], verdefs=("V1", "V2"), soname="libv.so.1")
    path = image.write(tmp_path / "libv.so.1")
    r = Real(path)
    at = r.offset_of(r.tag_entry(0x6FFFFFFC)[2])                # DT_VERDEF
    r.set_tag(0x6FFFFFFD, 0xFFFF)                               # DT_VERDEFNUM
    struct.pack_into("<I", r.data, at + 16, 4)                  # vd_next of the first record
    r.write(path)
    out = read_bounded(path)
    assert not out["read_elf_all"]["ok"] and "vd_next 4 overlaps it" in out["read_elf_all"]["error"]
    _, err = readelf(["-V"], path)
    assert "Invalid vd_next field of 4" in err                  # readelf says the same


def test_a_one_megabyte_file_of_overlapping_requirements(tmp_path):
    """The issue's 1 MB case (killed at 45 s before): a synthetic library whose 1 MiB of
    read-only data after .gnu.version_r is 1,000 requirements (vn_cnt 0xffff) over one
    overlapping vernaux chain, in the fuzz contract's size class."""
    import elfwriter
    image = elfwriter.build(soname="libreq.so.1", verneed=(("libc.so.6", ("GLIBC_2.2.5",)),), rodata=b"\0" * MIB)
    path = image.write(tmp_path / "libreq.so.1")
    r = Real(path)
    start = r.offset_of(r.tag_entry(DT_VERNEED)[2])
    r.set_tag(DT_VERNEEDNUM, 1000)
    aux_start = start + 16 * 1000
    for i in range(1000):
        at = start + 16 * i
        struct.pack_into("<HHIII", r.data, at, 1, 0xFFFF, 1, aux_start - at, 16 if i < 999 else 0)
    for k in range(65535 + 4):
        struct.pack_into("<I", r.data, aux_start + 4 * k, 4)
    r.write(path)
    assert os.path.getsize(path) < 2 * MIB
    out = read_bounded(path)
    assert not out["read_elf_all"]["ok"] and "overlaps it" in out["read_elf_all"]["error"]
    assert out["read_elf_all"]["seconds"] < 0.5
