"""Read the dynamic part of an ELF file: header, dynamic tags, dynamic symbols, versions.

Pure Python, no Ceph knowledge.  Follows the System V gABI (chapters "ELF Header", "Program
Header", "Dynamic Section", "Symbol Table", "Note Section") and the LSB's GNU extensions
(DT_GNU_HASH; symbol versioning: .gnu.version, .gnu.version_d, .gnu.version_r).  Everything is
reached through PT_DYNAMIC, so files whose section headers were stripped still read; only the
byte ranges that are needed are read (a 9 MB librbd costs about 100 KB of I/O), in the style of
pypa/packaging's ``_elffile.py``: ``struct`` formats chosen by ELF class and byte order.
"""
import itertools
import os
import stat
import struct
import sys

from .errors import ElfError
from .model import Record

# gABI "ELF Identification": e_ident[EI_MAG0..3], EI_CLASS, EI_DATA.
ELFMAG = b"\x7fELF"
EI_NIDENT = 16
_EHDR_READ = 64
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

ET_NONE, ET_REL, ET_EXEC, ET_DYN, ET_CORE = 0, 1, 2, 3, 4
ET_NAMES = {ET_NONE: "NONE", ET_REL: "REL", ET_EXEC: "EXEC", ET_DYN: "DYN", ET_CORE: "CORE"}

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4

# gABI "Dynamic Section", figure "Dynamic Array Tags"; the 0x6ffffXXX tags are GNU (LSB).
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB = 0, 1, 4, 5, 6
DT_STRSZ, DT_SYMENT, DT_SONAME, DT_RPATH, DT_RUNPATH = 10, 11, 14, 15, 29
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF

SHT_NULL, SHT_STRTAB, SHT_NOBITS, SHT_DYNSYM = 0, 3, 8, 11
SHN_UNDEF = 0
SHN_XINDEX = 0xFFFF
NT_GNU_BUILD_ID = 3

# LSB "Symbol Versioning": .gnu.version entries are indexes into the version definitions
# (defined symbols) or the vna_other of the version requirements (undefined symbols).
VER_NDX_LOCAL, VER_NDX_GLOBAL = 0, 1
VERSYM_HIDDEN = 0x8000          # "sym@VER" (not the default) rather than "sym@@VER"
VERSYM_VERSION = 0x7FFF
VER_FLG_BASE, VER_FLG_WEAK = 0x1, 0x2

STT_NAMES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS",
             10: "GNU_IFUNC"}
STB_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
STV_NAMES = ("DEFAULT", "INTERNAL", "HIDDEN", "PROTECTED")     # st_other & 0x3

EM_386, EM_MIPS, EM_PPC, EM_PPC64, EM_S390 = 3, 8, 20, 21, 22
EM_ARM, EM_SPARCV9, EM_X86_64, EM_AARCH64, EM_RISCV, EM_LOONGARCH = 40, 43, 62, 183, 243, 258

# e_machine values from the gABI registry (glibc's elf.h); names as distributions spell the
# architecture.  Machines whose name depends on class or byte order are in machine_name().
_MACHINES = {2: "sparc", EM_386: "i386", EM_PPC: "ppc", EM_ARM: "arm", EM_SPARCV9: "sparc64",
             50: "ia64", EM_X86_64: "x86-64", EM_AARCH64: "aarch64"}

EM_ALPHA = 0x9026
_WIDE_HASH_MACHINES = (EM_S390, EM_ALPHA)

# Sanity bounds: more than this many dynamic symbols or program headers is corruption here.
_MAX_SYMBOLS = 4000000
_MAX_PHNUM = 4096
# Dynamic entries read before a DT_NULL (real libraries have under 100; glibc walks to DT_NULL).
_MAX_DYNAMIC = 65536
# Tables are read in pieces of about this size: memory follows what is parsed, not a claim.
_CHUNK = 64 * 1024
# Bytes scanned for symbol names and dynamic strings, at most this many times the string
# table plus the floor (ld merges tails, so names may share bytes, but not without end).
_NAME_BUDGET_FACTOR = 8
_NAME_BUDGET_FLOOR = 1 << 20
# Version tables, notes and PT_INTERP are small; a larger claim is corruption.
_MAX_SMALL_TABLE = 1 << 20
# find_strings reads a section in pieces of this many bytes (plus an overlap): one buffer
# reused, where a single 700 KB read of libceph-common's .rodata costs ~180 fresh pages.
_RODATA_CHUNK = 64 * 1024
# Version tables are read from their first window of this many bytes (real ones hold a few
# hundred), more only when a record lies beyond it (_Region).
_FIRST_WINDOW = 4096
# String tables at least this large are mapped, not copied, when no symbols are wanted, and
# any larger than _MAX_COPY always (memory is then the pages touched, not the table's size).
_MAP_THRESHOLD = 256 * 1024
_MAX_COPY = 32 * 1024 * 1024

_NATIVE_LITTLE = sys.byteorder == "little"


class Symbol(
        metaclass=Record,
        fields="name defined type binding visibility value size version version_hidden "
        "version_file",
        defaults=(None, False, None)):
    """One dynamic symbol; ``version`` is its GNU symbol version (None for local/global)."""
    # Fields (immutable):
    #   name: str
    #   defined: bool                   # st_shndx != SHN_UNDEF
    #   type: str                       # NOTYPE OBJECT FUNC SECTION FILE COMMON TLS GNU_IFUNC
    #   binding: str                    # LOCAL GLOBAL WEAK GNU_UNIQUE
    #   visibility: str                 # DEFAULT INTERNAL HIDDEN PROTECTED
    #   value: int
    #   size: int
    #   version: Optional[str] = None   # verdef name (defined) or vernaux name (undefined)
    #   version_hidden: bool = False    # versym bit 15: "sym@VER", not the default "sym@@VER"
    #   version_file: Optional[str] = None  # the DT_NEEDED file a required version comes from
    __slots__ = ()


class ElfInfo(
        metaclass=Record,
        fields="path size elf_class byte_order machine machine_code file_type soname "
        "needed runpath rpath build_id interpreter symbols version_definitions "
        "version_requirements has_section_headers marked_strings version_flags "
        "load_segments has_dynamic symbol_count notes",
        defaults=(None, (), (), (), None, None, (), (), (), False, (), (), None, None, None, ())):
    """What the dynamic loader and a symbol lookup see of one ELF file."""
    # Fields (immutable):
    #   path: str
    #   size: int
    #   elf_class: int                  # 32 or 64
    #   byte_order: str                 # little or big
    #   machine: str                    # x86-64, aarch64, ppc64le, s390x, ... or unknown(N)
    #   machine_code: int               # e_machine
    #   file_type: str                  # DYN EXEC REL CORE
    #   soname: Optional[str] = None
    #   needed: Tuple[str, ...] = ()    # DT_NEEDED in order
    #   runpath: Tuple[str, ...] = ()   # DT_RUNPATH split on ':' ($ORIGIN unexpanded)
    #   rpath: Tuple[str, ...] = ()     # DT_RPATH likewise
    #   build_id: Optional[str] = None  # NT_GNU_BUILD_ID, lowercase hex
    #   interpreter: Optional[str] = None  # PT_INTERP
    #   symbols: Tuple[Symbol, ...] = ()
    #   version_definitions: Tuple[str, ...] = ()  # in file order, the VER_FLG_BASE one first
    #   version_requirements: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (file, names)
    #   has_section_headers: bool = False
    #   marked_strings: Tuple[str, ...] = ()  # dynamic strings with a requested prefix (read_elf markers=)
    #   version_flags: Tuple[int, ...] = ()   # vd_flags of each version definition (VER_FLG_BASE, ...)
    #   load_segments: Optional[int] = None   # PT_LOAD entries (None: program headers not read)
    #   has_dynamic: Optional[bool] = None    # a PT_DYNAMIC segment (None: not read)
    #   symbol_count: Optional[int] = None    # dynamic symbol table entries, the null one
    #                                         #   included (None: symbols not read)
    #   notes: Tuple[str, ...] = ()           # header claims the reader bounded (one line each)
    __slots__ = ()


def machine_name(code, elf_class, byte_order):
    """A distribution-style architecture name for e_machine ``code``."""
    if code == EM_PPC64:
        return "ppc64le" if byte_order == "little" else "ppc64"
    if code == EM_S390:
        return "s390x" if elf_class == 64 else "s390"
    if code == EM_MIPS:
        return ("mips64" if elf_class == 64 else "mips") + ("el" if byte_order == "little" else "")
    if code == EM_RISCV:
        return "riscv64" if elf_class == 64 else "riscv32"
    if code == EM_LOONGARCH:
        return "loongarch64" if elf_class == 64 else "loongarch32"
    return _MACHINES.get(code) or "unknown({})".format(code)


def _open_error(path, exc):
    """One-line ElfError for an OSError of open() (reasons shared with every input: safeio)."""
    from .safeio import os_reason
    return ElfError("{}: {}".format(path, os_reason(exc, path, fallback="cannot open")))


def _corrupt(path, exc):
    """The ElfError for what parsing corrupt data raised (struct.error, OverflowError,
    MemoryError, ValueError other than ElfError)."""
    if isinstance(exc, struct.error):
        return ElfError("{}: corrupt ELF structure: {}".format(path, exc))
    return ElfError("{}: corrupt ELF structure ({})".format(path, exc or type(exc).__name__))


class _File(object):
    """Bounded reads from one open file; any read past the end is ElfError("truncated")."""

    def __init__(self, path):
        self.path = path
        try:
            # O_NONBLOCK: a FIFO given by mistake must not hang open(); it has no effect on
            # regular files, which are the only kind read further.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise _open_error(path, exc) from exc
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise _open_error(path, exc) from exc
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ElfError("{}: {}".format(path, "is a directory" if stat.S_ISDIR(info.st_mode)
                                           else "not a regular file"))
        self.fd = fd
        self.size = info.st_size

    def read(self, offset, length, what):
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError("{}: truncated or corrupt: {} needs bytes {}..{} but the file has {}".format(
                self.path, what, offset, offset + length, self.size))
        try:
            data = os.pread(self.fd, length, offset)
        except OSError as exc:
            raise ElfError("{}: cannot read {}: {}".format(self.path, what, exc.strerror or exc)) from exc
        if len(data) != length:
            raise ElfError("{}: truncated while reading {}".format(self.path, what))
        return data

    def map(self, offset, length, what):
        """A read-only mmap of [offset, offset+length), seen through a _Window."""
        import mmap
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError("{}: truncated or corrupt: {} needs bytes {}..{} but the file has {}".format(
                self.path, what, offset, offset + length, self.size))
        if length == 0:
            return b""
        # Only the window is mapped (a whole 1 GiB file would be 1 GiB of address space).
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            mapping = mmap.mmap(self.fd, length + offset - start, access=mmap.ACCESS_READ, offset=start)
        except (OSError, ValueError) as exc:
            raise ElfError("{}: cannot map {}: {}".format(self.path, what, exc)) from exc
        return _Window(mapping, offset - start, length)

    def close(self):
        os.close(self.fd)


class _Window(object):
    """bytes-like view of part of an mmap: len(), find(), slicing (all _cstr and _marked use)."""

    def __init__(self, mapping, offset, length):
        self.mapping, self.offset, self.length = mapping, offset, length

    def __len__(self):
        return self.length

    def find(self, sub, start=0, end=None):
        end = self.length if end is None else min(end, self.length)
        pos = self.mapping.find(sub, self.offset + start, self.offset + end)
        return pos - self.offset if pos >= 0 else -1

    def __getitem__(self, item):
        start, stop, _ = item.indices(self.length)
        return self.mapping[self.offset + start:self.offset + stop]

    def startswith(self, prefixes, start=0):
        if not 0 <= start < self.length:
            return False
        longest = max(len(p) for p in prefixes) if isinstance(prefixes, tuple) else len(prefixes)
        return self[start:start + longest].startswith(prefixes)


class _Region(object):
    """``length`` bytes of a file from ``offset``, read on demand: a first window of
    _FIRST_WINDOW bytes, doubled (never past ``length``) when a record lies beyond it.
    len() is the whole length, so bounds derived from it do not depend on the window."""

    def __init__(self, f, offset, length, what):
        self.f, self.offset, self.length, self.what = f, offset, length, what
        self.data = f.read(offset, min(length, _FIRST_WINDOW), what) if length else b""

    def __len__(self):
        return self.length

    def reach(self, end):
        """The bytes read so far, grown to hold [0, end) (end <= len(self))."""
        data = self.data
        if end > len(data):
            grown = min(self.length, max(2 * len(data), end + _FIRST_WINDOW))
            data = self.data = data + self.f.read(self.offset + len(data), grown - len(data), self.what)
        return data


class _Layout(object):
    """Class and byte-order specific struct formats (pypa/packaging _elffile.py style)."""

    def __init__(self, elf_class, byte_order):
        e = "<" if byte_order == "little" else ">"
        self.e = e
        self.elf_class = elf_class
        if elf_class == 64:
            self.header = struct.Struct(e + "HHIQQQIHHHHHH")      # Elf64_Ehdr after e_ident
            self.phdr = struct.Struct(e + "IIQQQQQQ")             # Elf64_Phdr
            self.dyn = struct.Struct(e + "qQ")                    # Elf64_Dyn
            self.sym = struct.Struct(e + "IBBHQQ")                # Elf64_Sym
            self.shdr = struct.Struct(e + "IIQQQQIIQQ")           # Elf64_Shdr
        else:
            self.header = struct.Struct(e + "HHIIIIIHHHHHH")
            self.phdr = struct.Struct(e + "IIIIIIII")
            self.dyn = struct.Struct(e + "iI")
            self.sym = struct.Struct(e + "IIIBBH")                # Elf32_Sym: value/size before info
            self.shdr = struct.Struct(e + "IIIIIIIIII")
        self.u32 = struct.Struct(e + "I")
        self.gnu_hash = struct.Struct(e + "IIII")
        self.verdef = struct.Struct(e + "HHHHIII")                # Elf_Verdef (same in both classes)
        self.verdaux = struct.Struct(e + "II")
        self.verneed = struct.Struct(e + "HHIII")
        self.vernaux = struct.Struct(e + "IHHII")
        self.note = struct.Struct(e + "III")                      # Elf_Nhdr: 32-bit words in both

    def phdr_fields(self, raw):
        """(p_type, p_offset, p_vaddr, p_filesz, p_align) for either class."""
        if self.elf_class == 64:
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, p_align = raw
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, _, _, p_align = raw
        return p_type, p_offset, p_vaddr, p_filesz, p_align


def _cstr(table, offset, path, what):
    if offset >= len(table):
        raise ElfError("{}: corrupt {} string offset {}".format(path, what, offset))
    end = table.find(b"\0", offset)
    if end < 0:
        raise ElfError("{}: unterminated {} string".format(path, what))
    return table[offset:end].decode("utf-8", "surrogateescape")


# (type name, binding name) for every st_info byte: one list index per symbol.
_INFO_NAMES = [(STT_NAMES.get(info & 0xF, str(info & 0xF)), STB_NAMES.get(info >> 4, str(info >> 4)))
               for info in range(256)]
_NO_VERSION = (None, False, None)


class _Parser(object):
    def __init__(self, path, copy_strtab=True):
        self.path = path
        self.f = _File(path)
        self.copy_strtab = copy_strtab
        self.tags = {}
        self.strtab = b""
        self.has_dynamic = False
        self.notes = []
        self.string_cache = {}
        self.string_budget = 0

    def close(self):
        self.f.close()

    def corrupt(self, what):
        return ElfError("{}: corrupt {}".format(self.path, what))

    def header(self):
        f = self.f
        if f.size == 0:
            raise ElfError("{}: empty file (0 bytes), not an ELF file".format(self.path))
        # e_ident and the header in one read (64 bytes: an Elf64_Ehdr; an Elf32_Ehdr is 52)
        head = f.read(0, min(_EHDR_READ, f.size), "e_ident")
        ident = self.ident = head[:EI_NIDENT]
        if not ident.startswith(ELFMAG):
            raise ElfError("{}: not an ELF file (bad magic {!r})".format(self.path, ident[:4]))
        if len(ident) < EI_NIDENT:
            raise ElfError("{}: truncated ELF identification ({} bytes)".format(self.path, f.size))
        if ident[4] not in (ELFCLASS32, ELFCLASS64):
            raise ElfError("{}: unsupported ELF class {}".format(self.path, ident[4]))
        if ident[5] not in (ELFDATA2LSB, ELFDATA2MSB):
            raise ElfError("{}: unsupported ELF data encoding {}".format(self.path, ident[5]))
        self.elf_class = 64 if ident[4] == ELFCLASS64 else 32
        self.byte_order = "little" if ident[5] == ELFDATA2LSB else "big"
        L = self.layout = _Layout(self.elf_class, self.byte_order)
        end = EI_NIDENT + L.header.size
        (self.e_type, self.e_machine, _, _, self.e_phoff, self.e_shoff, _, _, self.e_phentsize,
         self.e_phnum, self.e_shentsize, self.e_shnum, self.e_shstrndx) = L.header.unpack(
            head[EI_NIDENT:end] if len(head) >= end else f.read(EI_NIDENT, L.header.size, "ELF header"))
        self.segments = []
        self.loads = []

    def program_headers(self):
        L = self.layout
        e_phoff, e_phentsize, e_phnum = self.e_phoff, self.e_phentsize, self.e_phnum
        if e_phnum > _MAX_PHNUM or (e_phnum and e_phentsize != L.phdr.size):
            # glibc's _dl_map_object_from_fd: "ELF file's phentsize not the expected size"
            raise self.corrupt("program header table (e_phnum {}, e_phentsize {}; an Elf{}_Phdr is {} bytes)".format(
                e_phnum, e_phentsize, self.elf_class, L.phdr.size))
        table = self.f.read(e_phoff, e_phnum * e_phentsize, "program headers") if e_phnum else b""
        self.segments = [L.phdr_fields(L.phdr.unpack_from(table, i * e_phentsize)) for i in range(e_phnum)]
        self.loads = [s for s in self.segments if s[0] == PT_LOAD]
        for p_type, p_offset, _, p_filesz, _ in self.segments:
            # A segment whose file image runs past the end is what a cut-off copy looks like
            # (the loader's mmap of it would fault on first touch).
            if p_type in (PT_LOAD, PT_DYNAMIC) and p_offset + p_filesz > self.f.size:
                raise ElfError("{}: truncated or corrupt: {} segment needs bytes {}..{} but the file has {}".format(
                    self.path, "PT_LOAD" if p_type == PT_LOAD else "PT_DYNAMIC", p_offset, p_offset + p_filesz,
                    self.f.size))

    def offset_of(self, vaddr, what, length=0):
        """File offset of ``vaddr`` through the PT_LOAD segment containing it (gABI "Program
        Loading"); ``length`` bytes from there must lie inside the same segment's file image."""
        for _, p_offset, p_vaddr, p_filesz, _ in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                if vaddr + length > p_vaddr + p_filesz:
                    raise self.corrupt("{} (0x{:x} + {} bytes runs past its PT_LOAD segment)".format(
                        what, vaddr, length))
                return vaddr - p_vaddr + p_offset
        raise self.corrupt("{} address 0x{:x} (outside every PT_LOAD segment)".format(what, vaddr))

    def dynamic(self):
        """self.tags = {tag: [values]} from PT_DYNAMIC; empty for files without one.

        Read in pieces up to DT_NULL, as the loader walks it: p_filesz is a claim (it may say
        a gigabyte in a sparse file), so memory follows the entries, never the claim."""
        L = self.layout
        for p_type, p_offset, _, p_filesz, _ in self.segments:
            if p_type != PT_DYNAMIC:
                continue
            self.has_dynamic = True
            tags = self.tags
            entries = 0
            limit = p_filesz - p_filesz % L.dyn.size
            pos = 0
            step = 64 * L.dyn.size
            done = False
            while pos < limit and not done:
                data = self.f.read(p_offset + pos, min(step, limit - pos), "PT_DYNAMIC")
                pos += len(data)
                step = min(step * 4, _CHUNK)
                for tag, value in L.dyn.iter_unpack(data):
                    if tag == DT_NULL:
                        done = True
                        break
                    entries += 1
                    if entries > _MAX_DYNAMIC:
                        raise self.corrupt("PT_DYNAMIC: more than {} entries without a DT_NULL".format(_MAX_DYNAMIC))
                    if tag in tags:
                        tags[tag].append(value)
                    else:
                        tags[tag] = [value]
            break
        if DT_STRTAB in self.tags and self.loads:
            size = self.tag(DT_STRSZ, 0)
            if size > self.f.size:
                raise self.corrupt("DT_STRSZ {} (the file has {} bytes)".format(size, self.f.size))
            vaddr = self.tags[DT_STRTAB][0]
            offset = self.offset_of(vaddr, "DT_STRTAB")
            room = self.room(vaddr)
            if size > room:
                # The loader maps PT_LOAD segments only (and never reads DT_STRSZ to find a
                # name): a table claimed past its segment holds no more than the segment does.
                self.notes.append("DT_STRSZ {} runs past its PT_LOAD segment: read to the segment's end "
                                  "({} bytes), as the loader maps it".format(size, room))
                size = room
            if size >= _MAP_THRESHOLD and (not self.copy_strtab or size > _MAX_COPY):
                # libceph-common's table is 1.5 MB: map it instead of copying it when only a
                # few strings are wanted (memory is then the pages touched).
                self.strtab = self.f.map(offset, size, "dynamic string table")
            else:
                self.strtab = self.f.read(offset, size, "dynamic string table")
            self.string_budget = _NAME_BUDGET_FACTOR * size + _NAME_BUDGET_FLOOR

    def room(self, vaddr):
        """Bytes of file image from ``vaddr`` to the end of its PT_LOAD segment (0: none)."""
        for _, p_offset, p_vaddr, p_filesz, _ in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                return max(0, min(p_vaddr + p_filesz - vaddr, self.f.size - (vaddr - p_vaddr + p_offset)))
        return 0

    def tag(self, tag, default=None):
        values = self.tags.get(tag)
        return values[0] if values else default

    def string(self, offset):
        """The dynamic string at ``offset``; each offset read once, the bytes scanned budgeted
        (65,536 DT_NEEDED entries at the start of a NUL-free megabyte must not cost 64 GB)."""
        cache = self.string_cache
        if offset in cache:
            return cache[offset]
        value = _cstr(self.strtab, offset, self.path, "dynamic")
        self.string_budget -= len(value) + 1
        if self.string_budget < 0:
            raise self.corrupt("dynamic strings (more string bytes read than {} times the string table: "
                               "offsets overlap)".format(_NAME_BUDGET_FACTOR))
        cache[offset] = value
        return value

    def strings(self, tag):
        return tuple(self.string(v) for v in self.tags.get(tag, ()))

    def build_id(self):
        """NT_GNU_BUILD_ID from the PT_NOTE segments (gABI "Note Section": namesz, descsz,
        type, then name and desc each padded to the segment's alignment, 4 or 8)."""
        for p_type, p_offset, _, p_filesz, p_align in self.segments:
            if p_type != PT_NOTE or p_filesz > _MAX_SMALL_TABLE:
                continue
            data = self.f.read(p_offset, p_filesz, "PT_NOTE")
            align = 8 if p_align == 8 else 4
            pos = 0
            note = self.layout.note
            while pos + note.size <= len(data):
                namesz, descsz, n_type = note.unpack_from(data, pos)
                name_start = pos + note.size
                desc_start = name_start + ((namesz + align - 1) & ~(align - 1))
                if desc_start + descsz > len(data):
                    break
                if n_type == NT_GNU_BUILD_ID and data[name_start:name_start + namesz] == b"GNU\0":
                    return data[desc_start:desc_start + descsz].hex()
                pos = desc_start + ((descsz + align - 1) & ~(align - 1))
        return None

    def interpreter(self):
        for p_type, p_offset, _, p_filesz, _ in self.segments:
            if p_type == PT_INTERP and 0 < p_filesz < 4096:
                return self.f.read(p_offset, p_filesz, "PT_INTERP").split(b"\0", 1)[0].decode(
                    "utf-8", "surrogateescape")
        return None

    def section_headers(self):
        """[(sh_name, sh_type, sh_offset, sh_size, sh_entsize)], or [] when stripped or unusable
        (section headers are optional for the loader: gABI "Sections")."""
        L = self.layout
        if not self.e_shoff or not self.e_shnum:
            return []
        if self.e_shentsize != L.shdr.size:
            # The loader never reads them; readelf warns ("The e_shentsize field in the ELF
            # header is larger than the size of an ELF section header") and shows garbage.
            # 65535 entries of up to 64 KiB would be a 4 GiB claim: not read at all.
            self.notes.append("section headers ignored: e_shentsize {} is not the {} bytes of an Elf{}_Shdr "
                              "(e_shnum {})".format(self.e_shentsize, L.shdr.size, self.elf_class, self.e_shnum))
            return []
        if self.e_shoff + self.e_shnum * self.e_shentsize > self.f.size:
            # Stripping zeroes e_shoff/e_shnum; a table that runs past the end is a cut-off file.
            raise ElfError("{}: truncated or corrupt: section headers need bytes {}..{} but the file has {}".format(
                self.path, self.e_shoff, self.e_shoff + self.e_shnum * self.e_shentsize, self.f.size))
        # At most 65535 x 64 bytes (4 MiB), and inside the file (checked above).
        data = self.f.read(self.e_shoff, self.e_shnum * self.e_shentsize, "section headers")
        out = []
        for i in range(self.e_shnum):
            sh_name, sh_type, _, _, sh_offset, sh_size, _, _, _, sh_entsize = L.shdr.unpack_from(
                data, i * self.e_shentsize)
            out.append((sh_name, sh_type, sh_offset, sh_size, sh_entsize))
        return out

    def _unpack(self, fmt, data, pos, what):
        if pos < 0 or pos + fmt.size > len(data):
            raise ElfError("{}: truncated or corrupt {} record".format(self.path, what))
        return fmt.unpack_from(data.reach(pos + fmt.size), pos)

    def symbol_count(self, sections):
        """Entries in the dynamic symbol table: from SHT_DYNSYM when section headers exist
        (what readelf uses), else from the hash table the loader itself uses."""
        for _, sh_type, sh_offset, sh_size, sh_entsize in sections:
            if sh_type == SHT_DYNSYM and sh_entsize:
                count = sh_size // sh_entsize
                room = self.room(self.tags[DT_SYMTAB][0]) if DT_SYMTAB in self.tags else self.f.size
                if count <= _MAX_SYMBOLS and sh_offset + sh_size <= self.f.size and sh_size <= room:
                    return count
                # The loader never reads section headers: a claim past the file or past the
                # PT_LOAD segment holding DT_SYMTAB falls back to the hash table it uses.
                self.notes.append("SHT_DYNSYM claims {} entries ({} bytes; its PT_LOAD segment holds {} from "
                                  "DT_SYMTAB, the file {}): counted through the hash table instead".format(
                                      count, sh_size, room, self.f.size))
                break
        if DT_HASH in self.tags:
            # gABI "Hash Table": nbucket, nchain; nchain equals the number of symbols.  64-bit
            # s390 and Alpha use 8-byte hash words (binutils' hash_entry_size), all others 4.
            wide = self.elf_class == 64 and self.e_machine in _WIDE_HASH_MACHINES
            fmt = struct.Struct(self.layout.e + ("Q" if wide else "I"))
            off = self.offset_of(self.tags[DT_HASH][0], "DT_HASH", 2 * fmt.size)
            return fmt.unpack(self.f.read(off + fmt.size, fmt.size, "DT_HASH nchain"))[0]
        if DT_GNU_HASH in self.tags:
            return self._gnu_hash_count()
        return 0

    def _gnu_hash_count(self):
        # DT_GNU_HASH (no written spec beyond binutils/glibc; see "GNU Hash ELF Sections") has
        # no symbol count: take the highest bucket start, then walk its chain to the entry
        # whose low bit is set (the end-of-chain marker).  Symbols below symoffset are the
        # unhashed ones (undefined references), so with empty buckets the count is symoffset.
        # Buckets and chain are read in pieces inside the table's PT_LOAD segment: nbuckets
        # is a claim, and the chain's end is found by looking.
        f, L = self.f, self.layout
        vaddr = self.tags[DT_GNU_HASH][0]
        off = self.offset_of(vaddr, "DT_GNU_HASH", 16)
        room = self.room(vaddr)
        nbuckets, symoffset, bloom_size, _ = L.gnu_hash.unpack(f.read(off, 16, "DT_GNU_HASH"))
        word = 8 if self.elf_class == 64 else 4
        if nbuckets > _MAX_SYMBOLS or bloom_size > _MAX_SYMBOLS or symoffset > _MAX_SYMBOLS:
            raise self.corrupt("DT_GNU_HASH header")
        if 16 + bloom_size * word + 4 * nbuckets > room:
            raise self.corrupt("DT_GNU_HASH (nbuckets {}, bloom size {}: {} bytes, its PT_LOAD segment holds {})".format(
                nbuckets, bloom_size, 16 + bloom_size * word + 4 * nbuckets, room))
        buckets_off = off + 16 + bloom_size * word
        last = 0
        for first in range(0, nbuckets, _CHUNK // 4):
            n = min(_CHUNK // 4, nbuckets - first)
            buckets = self._column(f.read(buckets_off + 4 * first, 4 * n, "DT_GNU_HASH buckets"), "I",
                                   "DT_GNU_HASH buckets")
            last = max(last, max(buckets))
        if last < symoffset:
            return symoffset
        if last > _MAX_SYMBOLS:
            raise self.corrupt("DT_GNU_HASH bucket {} (more than {} symbols)".format(last, _MAX_SYMBOLS))
        chains_off = buckets_off + 4 * nbuckets + 4 * (last - symoffset)
        chains_end = off + room
        index = last
        chunk = 64
        while True:
            length = min(4 * chunk, chains_end - chains_off)
            if length < 4:
                raise ElfError("{}: truncated DT_GNU_HASH chain".format(self.path))
            words = self._column(f.read(chains_off, length - length % 4, "DT_GNU_HASH chain"), "I",
                                 "DT_GNU_HASH chain")
            for value in words:
                if value & 1:
                    return index + 1
                index += 1
            if index > _MAX_SYMBOLS:
                raise self.corrupt("DT_GNU_HASH chain")
            chains_off += 4 * len(words)
            chunk = min(chunk * 4, _CHUNK // 4)

    def _region(self, vaddr, what):
        """The bytes from ``vaddr`` to the end of its PT_LOAD segment's file image (capped at
        _MAX_SMALL_TABLE), as a _Region: read as far as the records parsed reach.

        Version tables are chains of small records linked by offsets, a few hundred bytes
        where the segment runs on for hundreds of KB (librbd 16.2.15: 399,184 bytes from
        DT_VERNEED): a first window, grown only when a record lies past it."""
        off = self.offset_of(vaddr, what)
        for _, p_offset, p_vaddr, p_filesz, _ in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                end = min(p_offset + p_filesz, off + _MAX_SMALL_TABLE, self.f.size)
                return _Region(self.f, off, max(0, end - off), what)
        return _Region(self.f, off, 0, what)

    def versions(self):
        """(defs {ndx: name}, def_names, def_flags, needs {ndx: (name, file)}, requirements).

        LSB "Symbol Versioning": Elf_Verdef records linked by vd_next, each with vd_cnt
        Elf_Verdaux (the first names the version, the rest its parents); Elf_Verneed records
        linked by vn_next, each with vn_cnt Elf_Vernaux whose vna_other is the versym index.

        The walk is linear in the table: offsets only move forward by at least a record
        (records do not overlap), and the Elf_Vernaux steps of all requirements together are
        at most the records the table can hold (1,000 requirements sharing one 65,535-entry
        chain would otherwise be 65 million steps).  glibc's _dl_check_map_versions follows
        vn_next/vna_next to 0 with no such bound."""
        L = self.layout
        defs, def_names, def_flags, needs, reqs = {}, [], [], {}, []
        if DT_VERDEF in self.tags:
            data = self._region(self.tags[DT_VERDEF][0], "DT_VERDEF")
            pos = 0
            for _ in range(min(self.tag(DT_VERDEFNUM, 0), 65535)):
                _, vd_flags, vd_ndx, vd_cnt, _, vd_aux, vd_next = self._unpack(L.verdef, data, pos, "verdef")
                if vd_cnt:
                    # (ld may let two definitions share one Elf_Verdaux: libjansson's base
                    # and its only version have the same name.)
                    vda_name, _ = self._unpack(L.verdaux, data, pos + vd_aux, "verdaux")
                    name = self.string(vda_name)
                    defs[vd_ndx & VERSYM_VERSION] = name
                    def_names.append(name)
                    def_flags.append(vd_flags)
                if not vd_next:
                    break
                if vd_next < L.verdef.size:
                    raise self.corrupt("verdef record at +{} (vd_next {} overlaps it)".format(pos, vd_next))
                pos += vd_next
        if DT_VERNEED in self.tags:
            data = self._region(self.tags[DT_VERNEED][0], "DT_VERNEED")
            pos = 0
            # Records do not overlap, so the table holds at most this many: more steps than
            # that means chains shared between requirements (each walked again and again).
            steps = len(data) // L.vernaux.size + 1
            for _ in range(min(self.tag(DT_VERNEEDNUM, 0), 65535)):
                _, vn_cnt, vn_file, vn_aux, vn_next = self._unpack(L.verneed, data, pos, "verneed")
                filename = self.string(vn_file)
                names = []
                aux = pos + vn_aux
                for _ in range(vn_cnt):
                    steps -= 1
                    if steps < 0:
                        raise self.corrupt("version requirements: more Elf_Vernaux steps than the table holds "
                                           "records (chains shared between requirements, vn_cnt {})".format(vn_cnt))
                    _, _, vna_other, vna_name, vna_next = self._unpack(L.vernaux, data, aux, "vernaux")
                    name = self.string(vna_name)
                    needs[vna_other & VERSYM_VERSION] = (name, filename)
                    names.append(name)
                    if not vna_next:
                        break
                    if vna_next < L.vernaux.size:
                        raise self.corrupt("vernaux record at +{} (vna_next {} overlaps it)".format(aux, vna_next))
                    aux += vna_next
                reqs.append((filename, tuple(names)))
                if not vn_next:
                    break
                if vn_next < L.verneed.size:
                    raise self.corrupt("verneed record at +{} (vn_next {} overlaps it)".format(pos, vn_next))
                pos += vn_next
        return defs, tuple(def_names), tuple(def_flags), needs, tuple(reqs)

    def _column(self, data, typecode, what):
        """A table of equal-sized integers (``typecode`` H or I), indexable and sliceable: a
        memoryview cast when the file's byte order is this machine's (no copy, and the array
        module is not imported on the scan's path), else an array with the bytes swapped."""
        if len(data) % struct.calcsize(typecode):
            raise self.corrupt(what)
        if (self.byte_order == "little") == _NATIVE_LITTLE:
            return memoryview(data).cast(typecode)
        import array
        column = array.array(typecode, data)
        column.byteswap()
        return column

    def symbols(self, count, name_filter, defs, needs, defined_only=False):
        """Dynamic symbols 1..count-1 (entry 0 is the reserved null symbol), nameless ones
        (section symbols) left out, as Symbol records.

        The table is read in pieces (memory follows the records kept, not the count claimed),
        and the bytes scanned for names are budgeted: names that all start inside one long
        NUL-free run would otherwise cost count x run."""
        if count <= 1 or DT_SYMTAB not in self.tags:
            return ()
        L = self.layout
        entsize = self.tag(DT_SYMENT, L.sym.size)
        if entsize < L.sym.size or entsize % 4 or entsize > 1024:
            raise self.corrupt("DT_SYMENT {} (an Elf{}_Sym is {} bytes)".format(entsize, self.elf_class, L.sym.size))
        if count > _MAX_SYMBOLS or count * entsize > self.f.size:
            raise self.corrupt("dynamic symbol count {} (entries of {} bytes, file of {})".format(
                count, entsize, self.f.size))
        off = self.offset_of(self.tags[DT_SYMTAB][0], "DT_SYMTAB", count * entsize)
        versym = None
        if DT_VERSYM in self.tags:
            voff = self.offset_of(self.tags[DT_VERSYM][0], "DT_VERSYM", 2 * count)
            versym = self._column(self.f.read(voff, 2 * count, "DT_VERSYM"), "H", "DT_VERSYM")
        strtab = self.strtab

        # Each distinct versym value resolves once, for a defined and an undefined symbol:
        # a defined symbol's index names a version definition, an undefined one's a
        # requirement's vna_other (readelf falls back to the requirements for a defined
        # symbol whose index has no definition: copy-relocated data in executables).
        if versym is None:
            resolved_defined = resolved_undefined = {0: _NO_VERSION}
        else:
            resolved_defined, resolved_undefined = {}, {}
            for raw in set(versym):
                ndx = raw & VERSYM_VERSION
                hidden = bool(raw & VERSYM_HIDDEN)
                resolved_defined[raw] = resolved_undefined[raw] = (None, hidden, None)
                if ndx > VER_NDX_GLOBAL:
                    if ndx in needs:
                        resolved_undefined[raw] = resolved_defined[raw] = (needs[ndx][0], hidden, needs[ndx][1])
                    if ndx in defs:
                        resolved_defined[raw] = (defs[ndx], hidden, None)
                        if ndx not in needs:
                            resolved_undefined[raw] = (defs[ndx], hidden, None)

        prefixes = name_filter if isinstance(name_filter, tuple) else None
        if prefixes is not None:
            name_filter = None
        # Names: one decode of an all-ASCII table (every C and mangled C++ name) and str
        # slices after, else a decode per name.
        text = None
        if name_filter is None and prefixes is None and not isinstance(strtab, _Window):
            try:
                text = strtab.decode("ascii")
            except UnicodeDecodeError:
                text = None
        find, nul = (text.find, "\0") if text is not None else (strtab.find, b"\0")
        budget = [_NAME_BUDGET_FACTOR * len(strtab) + _NAME_BUDGET_FLOOR]

        out = []
        step = max(1, _CHUNK * 4 // entsize)             # about 256 KiB of entries per read
        for first in range(0, count, step):
            n = min(step, count - first)
            data = self.f.read(off + first * entsize, n * entsize, "dynamic symbol table")
            skip = 1 if first == 0 else 0                # entry 0: the null symbol
            if prefixes is not None:
                # Only the st_name column is looked at for every entry: pulled out with an
                # array slice, each name tested with bytes.startswith(tuple, offset) in C.
                # (Names are tested at their offset, not searched for: ld merges string tails.)
                names = self._column(data, "I", "dynamic symbol table")[::entsize // 4]
                startswith = strtab.startswith
                indices = [i for i, name in enumerate(names) if i >= skip and name and startswith(prefixes, name)]
            elif entsize == L.sym.size:
                indices = None
            else:
                indices = range(skip, n)
            if indices is None:
                # The common case: every entry, unpacked in C by iter_unpack.
                rows = L.sym.iter_unpack(memoryview(data)[skip * entsize:])
                versions = versym[first + skip:first + n] if versym is not None else itertools.repeat(0)
            else:
                unpack = L.sym.unpack_from
                rows = [unpack(data, i * entsize) for i in indices]
                versions = [versym[first + i] for i in indices] if versym is not None else itertools.repeat(0)
            if self.elf_class == 32:
                # Elf32_Sym is (st_name, st_value, st_size, st_info, st_other, st_shndx).
                rows = ((n_, i, o, x, v, s_) for n_, v, s_, i, o, x in rows)
            self._records(rows, versions, strtab, text, find, nul, name_filter, defined_only,
                          resolved_defined, resolved_undefined, budget, out)
        return tuple(out)

    def _records(self, rows, versions, strtab, text, find, nul, name_filter, defined_only,
                 resolved_defined, resolved_undefined, budget, out):
        info_names = _INFO_NAMES
        new = tuple.__new__
        cls = Symbol
        append = out.append
        left = budget[0]
        for (st_name, st_info, st_other, st_shndx, st_value, st_size), raw in zip(rows, versions):
            if not st_name or (defined_only and not st_shndx):
                continue
            end = find(nul, st_name)
            if end < 0:
                raise self.corrupt("symbol name offset {} (string table of {} bytes)".format(st_name, len(strtab)))
            left -= end - st_name
            if left < 0:
                raise self.corrupt("dynamic symbol names (more name bytes than {} times the string table: "
                                   "names overlap)".format(_NAME_BUDGET_FACTOR))
            if name_filter is not None and not name_filter(strtab[st_name:end]):
                continue
            if text is not None:
                name = text[st_name:end]
            else:
                name = strtab[st_name:end].decode("utf-8", "surrogateescape")
            kind, binding = info_names[st_info]
            if st_shndx:
                version, hidden, version_file = resolved_defined[raw]
            else:
                version, hidden, version_file = resolved_undefined[raw]
            append(new(cls, (name, st_shndx != SHN_UNDEF, kind, binding, STV_NAMES[st_other & 3],
                             st_value, st_size, version, hidden, version_file)))
        budget[0] = left


def _marked(strtab, prefixes):
    """Strings of ``strtab`` that start with one of ``prefixes`` (bytes.find, not a regex:
    libceph-common's table is 1.5 MB and a regex over it costs over a millisecond)."""
    found = set()
    for prefix in prefixes:
        needle = b"\0" + prefix
        pos = strtab.find(needle)
        while pos >= 0:
            end = strtab.find(b"\0", pos + 1)
            found.add(strtab[pos + 1:end if end >= 0 else len(strtab)].decode("utf-8", "surrogateescape"))
            pos = strtab.find(needle, pos + 1)
    return tuple(sorted(found))


def _split_path(values):
    """DT_RUNPATH/DT_RPATH strings split on ':' (ld.so's separator), empty parts dropped."""
    out = []
    for value in values:
        out.extend(p for p in value.split(":") if p)
    return tuple(out)


def _read(path, with_symbols, name_filter, markers=(), defined_only=False, identity_only=False):
    path = os.fspath(path)
    parser = _Parser(path, copy_strtab=with_symbols)
    try:
        parser.header()
        order = parser.byte_order
        common = dict(path=path, size=parser.f.size, elf_class=parser.elf_class, byte_order=order,
                      machine=machine_name(parser.e_machine, parser.elf_class, order),
                      machine_code=parser.e_machine,
                      file_type=ET_NAMES.get(parser.e_type, str(parser.e_type)))
        if identity_only:
            return ElfInfo(**common)
        parser.program_headers()
        parser.dynamic()
        sections = parser.section_headers()
        common.update(load_segments=len(parser.loads), has_dynamic=parser.has_dynamic)
        if not parser.loads:
            # Nothing is mapped, so no dynamic address means anything (glibc: "object file
            # has no loadable segments"); the caller decides what such a file is.
            return ElfInfo(has_section_headers=bool(sections), symbol_count=0 if with_symbols else None,
                           notes=tuple(parser.notes), **common)
        symbols = def_names = def_flags = reqs = ()
        count = None
        if with_symbols:
            defs, def_names, def_flags, needs, reqs = parser.versions()
            count = parser.symbol_count(sections) if DT_SYMTAB in parser.tags else 0
            symbols = parser.symbols(count, name_filter, defs, needs, defined_only)
        return ElfInfo(
            soname=(parser.strings(DT_SONAME) or (None,))[0], needed=parser.strings(DT_NEEDED),
            runpath=_split_path(parser.strings(DT_RUNPATH)), rpath=_split_path(parser.strings(DT_RPATH)),
            build_id=parser.build_id(), interpreter=parser.interpreter(), symbols=symbols,
            version_definitions=def_names, version_requirements=reqs, has_section_headers=bool(sections),
            marked_strings=_marked(parser.strtab, markers) if markers else (), version_flags=def_flags,
            symbol_count=count, notes=tuple(parser.notes), **common)
    except (struct.error, OverflowError, MemoryError, ValueError) as exc:
        if isinstance(exc, ElfError):
            raise
        raise _corrupt(path, exc) from exc
    finally:
        parser.close()


def read_identity(path):
    """Only the ELF header: class, byte order, machine, type (one small read).

    What a loader checks before it accepts a candidate file; used for every copy of a
    library found on the system, where the dynamic section is not needed.
    """
    return _read(path, False, None, identity_only=True)


def read_header(path):
    """Header, program headers, dynamic tags, build-id and interpreter; no symbols (cheap)."""
    return _read(path, False, None)


def read_elf(path, symbols=True, name_filter=None, markers=(), defined_only=False):
    """Everything ``read_header`` gives plus dynamic symbols and version tables.

    ``name_filter`` is a tuple of byte prefixes or a callable on the raw name (bytes); it is
    applied before records are built, so filtering a large library stays cheap.
    ``defined_only`` leaves out undefined references.  ``markers`` (byte prefixes) fills
    ``marked_strings`` from the dynamic string table of the same read.
    """
    return _read(path, symbols, name_filter, markers, defined_only)


def defined_names(info):
    """Names a caller can bind to: defined, global/weak, default or protected visibility."""
    return frozenset(s.name for s in info.symbols
                     if s.defined and s.binding in ("GLOBAL", "WEAK", "GNU_UNIQUE")
                     and s.visibility in ("DEFAULT", "PROTECTED"))


def find_dynamic_strings(path, prefixes):
    """Strings in the dynamic string table that start with one of ``prefixes`` (bytes).

    A cheap look at which names a large library mentions (e.g. libceph-common's
    ``ceph_ver__<sha>``) without building its whole symbol table.
    """
    return list(read_elf(path, symbols=False, markers=tuple(prefixes)).marked_strings)


def find_strings(path, pattern, section=".rodata", limit=64, chunk=_RODATA_CHUNK):
    """Group 1 of each match of ``pattern`` inside one named section, first ``limit`` distinct.

    ``pattern`` is a bytes regex (with one group) or anything with a compatible
    ``finditer``.  Needs section headers (names of sections live only there); returns []
    when they are stripped or the section is absent or occupies no file space.  The section
    is read in chunks with an overlap, so memory stays bounded for a multi-megabyte .rodata.
    """
    if isinstance(pattern, (bytes, str)):
        import re
        regex = re.compile(pattern)
    else:
        regex = pattern                 # a finditer of its own (identify's: no re import)
    path = os.fspath(path)
    parser = _Parser(path)
    try:
        parser.header()
        sections = parser.section_headers()
        if not sections or parser.e_shstrndx >= len(sections):
            return []
        _, names_type, names_off, names_size, _ = sections[parser.e_shstrndx]
        if names_type != SHT_STRTAB or names_size > _MAX_SMALL_TABLE:
            return []
        names = parser.f.read(names_off, names_size, "section name table")
        wanted = section.encode("utf-8") + b"\0"
        target = None
        for sh_name, sh_type, sh_offset, sh_size, _ in sections:
            if sh_type not in (SHT_NULL, SHT_NOBITS) and names.startswith(wanted, sh_name):
                target = (sh_offset, sh_size)
                break
        if target is None:
            return []
        start, size = target
        if start + size > parser.f.size:
            raise ElfError("{}: truncated or corrupt: section {} needs bytes {}..{} but the file has {}".format(
                path, section, start, start + size, parser.f.size))
        found = []
        overlap = 256
        pos = 0
        while pos < size and len(found) < limit:
            length = min(chunk + overlap, size - pos)
            data = parser.f.read(start + pos, length, section)
            for match in regex.finditer(data):
                if match.start() >= chunk and pos + chunk < size:
                    break                     # the next chunk sees this one whole
                value = match.group(1).decode("utf-8", "replace")
                if value not in found:
                    found.append(value)
            pos += chunk
        return found[:limit]
    except struct.error as exc:
        raise ElfError("{}: corrupt section headers: {}".format(path, exc)) from exc
    finally:
        parser.close()


# --- the loader's extra view and a fast sweep entry point (consumers / discovery) -----------

DT_FLAGS, DT_FLAGS_1 = 30, 0x6FFFFFFB
DF_BIND_NOW = 0x8                       # gABI DT_FLAGS
DF_1_NOW = 0x1                          # GNU DT_FLAGS_1
EI_OSABI, EI_ABIVERSION = 7, 8


class LinkHeader(metaclass=Record, fields="osabi abiversion flags flags_1 bind_now"):
    """What ld.so checks besides class/machine (e_ident OSABI/ABIVERSION) and how it binds."""
    # Fields (immutable):
    #   osabi: int            # e_ident[EI_OSABI]: 0 SYSV, 3 GNU (glibc accepts only these)
    #   abiversion: int       # e_ident[EI_ABIVERSION]
    #   flags: int            # DT_FLAGS (0 when absent)
    #   flags_1: int          # DT_FLAGS_1 (0 when absent)
    #   bind_now: bool        # DF_BIND_NOW or DF_1_NOW or DT_BIND_NOW: every symbol bound at start
    __slots__ = ()


DT_BIND_NOW = 24


def read_link_header(path):
    """LinkHeader of ``path`` (header, program headers and dynamic tags only)."""
    path = os.fspath(path)
    parser = _Parser(path, copy_strtab=False)
    try:
        parser.header()
        ident = parser.ident
        parser.program_headers()
        parser.dynamic()
        flags = parser.tag(DT_FLAGS, 0)
        flags_1 = parser.tag(DT_FLAGS_1, 0)
        return LinkHeader(ident[EI_OSABI], ident[EI_ABIVERSION], flags, flags_1,
                          bool(flags & DF_BIND_NOW or flags_1 & DF_1_NOW or DT_BIND_NOW in parser.tags))
    except struct.error as exc:
        raise _corrupt(path, exc) from exc
    finally:
        parser.close()


_SWEEP_HEAD = 4096


def sweep_dynamic(path, markers):
    """Fast path of a content sweep: (needed, marked, soname) of an ELF file, None for a non-ELF.

    ``needed`` are the DT_NEEDED names, ``soname`` the DT_SONAME (or None), ``marked`` whether the dynamic string table holds a
    string starting with one of ``markers`` (bytes, each tested as b"\\0" + prefix).  Reads
    the first page (header and, nearly always, the program headers), PT_DYNAMIC and the
    string table, with pread and no mmap: a sweep of /usr opens tens of thousands of files
    and most are not ELF at all.  Raises ElfError for an ELF file it cannot read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _open_error(path, exc) from exc
    try:
        head = os.pread(fd, _SWEEP_HEAD, 0)
        if head[:4] != ELFMAG or len(head) < 64:
            return None
        little = head[5] == ELFDATA2LSB
        end = "<" if little else ">"
        if head[4] == ELFCLASS64:
            e_phoff, = struct.unpack_from(end + "Q", head, 32)
            e_phentsize, e_phnum = struct.unpack_from(end + "HH", head, 54)
            phdr = struct.Struct(end + "IIQQQQQQ")
            dyn = struct.Struct(end + "qQ")
            ph = lambda raw: (raw[0], raw[2], raw[3], raw[5])      # noqa: E731 type offset vaddr filesz
        elif head[4] == ELFCLASS32:
            e_phoff, = struct.unpack_from(end + "I", head, 28)
            e_phentsize, e_phnum = struct.unpack_from(end + "HH", head, 42)
            phdr = struct.Struct(end + "IIIIIIII")
            dyn = struct.Struct(end + "iI")
            ph = lambda raw: (raw[0], raw[1], raw[2], raw[4])      # noqa: E731
        else:
            raise ElfError("{}: unsupported ELF class {}".format(path, head[4]))
        if e_phnum > _MAX_PHNUM or (e_phnum and e_phentsize != phdr.size):
            raise ElfError("{}: corrupt program header table (e_phnum {}, e_phentsize {})".format(
                path, e_phnum, e_phentsize))
        size = e_phnum * e_phentsize
        table = head[e_phoff:e_phoff + size] if e_phoff + size <= len(head) else os.pread(fd, size, e_phoff)
        if len(table) < size:
            raise ElfError("{}: truncated program headers".format(path))
        loads = []
        dynamic = None
        for i in range(e_phnum):
            p_type, p_offset, p_vaddr, p_filesz = ph(phdr.unpack_from(table, i * e_phentsize))
            if p_type == PT_LOAD:
                loads.append((p_vaddr, p_filesz, p_offset))
            elif p_type == PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            return ((), False, None)
        needed = []
        strtab = strsz = soname = None
        # PT_DYNAMIC's p_filesz and DT_STRSZ are claims: the entries are read in pieces up to
        # DT_NULL and the string table no further than its PT_LOAD segment and the file.
        limit = dynamic[1] - dynamic[1] % dyn.size
        pos, step, done, entries = 0, 64 * dyn.size, False, 0
        while pos < limit and not done:
            data = os.pread(fd, min(step, limit - pos), dynamic[0] + pos)
            if len(data) < dyn.size:
                break
            data = data[:len(data) - len(data) % dyn.size]
            pos += len(data)
            step = min(step * 4, _CHUNK)
            for tag, value in dyn.iter_unpack(data):
                entries += 1
                if tag == DT_NULL:
                    done = True
                    break
                if entries > _MAX_DYNAMIC:
                    raise ElfError("{}: corrupt PT_DYNAMIC: more than {} entries without a DT_NULL".format(
                        path, _MAX_DYNAMIC))
                if tag == DT_NEEDED:
                    needed.append(value)
                elif tag == DT_SONAME:
                    soname = value
                elif tag == DT_STRTAB:
                    strtab = value
                elif tag == DT_STRSZ:
                    strsz = value
        if strtab is None or strsz is None:
            return ((), False, None)
        offset = None
        for p_vaddr, p_filesz, p_offset in loads:
            if p_vaddr <= strtab < p_vaddr + p_filesz:
                offset = strtab - p_vaddr + p_offset
                strsz = min(strsz, p_vaddr + p_filesz - strtab)
                break
        if offset is None:
            raise ElfError("{}: DT_STRTAB outside every PT_LOAD segment".format(path))
        size = os.fstat(fd).st_size
        strsz = max(0, min(strsz, size - offset, _MAX_COPY))
        strings = os.pread(fd, strsz, offset) if strsz else b""
        cache = {}
        budget = [_NAME_BUDGET_FACTOR * len(strings) + _NAME_BUDGET_FLOOR]

        def text(value):
            if value not in cache:
                stop = strings.find(b"\0", value)
                raw = strings[value:stop if stop >= 0 else len(strings)]
                budget[0] -= len(raw) + 1
                if budget[0] < 0:
                    raise ElfError("{}: corrupt dynamic strings (DT_NEEDED offsets overlap)".format(path))
                cache[value] = raw.decode("utf-8", "surrogateescape")
            return cache[value]
        names = [text(value) for value in needed]
        marked = False
        for prefix in markers:
            if strings.find(b"\0" + prefix) >= 0:
                marked = True
                break
        return (tuple(names), marked, text(soname) if soname is not None else None)
    except (struct.error, OverflowError, ValueError) as exc:
        if isinstance(exc, ElfError):
            raise
        raise ElfError("{}: corrupt ELF structure ({})".format(path, exc)) from exc
    except OSError as exc:
        raise ElfError("{}: cannot read: {}".format(path, exc.strerror or exc)) from exc
    finally:
        os.close(fd)


# Dynamic relocations (psABI of each machine).  The loader looks a symbol up only when a
# relocation names it (an undefined symbol no relocation uses, like GCC 13's
# std::ios_base_library_init() marker, is never bound); R_*_NONE is skipped; R_*_COPY data
# the executable holds is looked up past the executable; DT_JMPREL entries (the PLT) may be
# bound lazily, at first call.
DT_PLTRELSZ, DT_RELA, DT_RELASZ, DT_RELAENT, DT_PLTREL = 2, 7, 8, 9, 20
DT_REL, DT_RELSZ, DT_RELENT, DT_JMPREL = 17, 18, 19, 23
_R_COPY = {EM_X86_64: 5, EM_386: 5, EM_AARCH64: 1024, EM_ARM: 20, EM_PPC64: 19, EM_PPC: 19, EM_S390: 9,
           EM_MIPS: 126, EM_RISCV: 4, EM_LOONGARCH: 4, 2: 19, EM_SPARCV9: 19}


class Relocations(metaclass=Record, fields="referenced copies plt"):
    """Symbol names the dynamic relocations of one object use."""
    # Fields (immutable):
    #   referenced: FrozenSet[str]   # named by a relocation other than R_*_NONE
    #   copies: FrozenSet[str]       # R_*_COPY
    #   plt: FrozenSet[str]          # DT_JMPREL (may be bound lazily)
    __slots__ = ()


def read_relocations(path):
    """Relocations of ``path``; None when its machine's relocation numbers are not known here."""
    path = os.fspath(path)
    parser = _Parser(path)
    try:
        parser.header()
        parser.program_headers()
        parser.dynamic()
        r_copy = _R_COPY.get(parser.e_machine)
        if r_copy is None:
            return None
        if DT_SYMTAB not in parser.tags:
            return Relocations(frozenset(), frozenset(), frozenset())
        L = parser.layout
        wide = parser.elf_class == 64
        mips64 = parser.e_machine == EM_MIPS and wide
        entsize_sym = parser.tag(DT_SYMENT, L.sym.size)
        symtab = parser.offset_of(parser.tags[DT_SYMTAB][0], "DT_SYMTAB")
        rela = struct.Struct(L.e + ("QQq" if wide else "IIi"))
        rel = struct.Struct(L.e + ("QQ" if wide else "II"))
        tables = []
        if DT_RELA in parser.tags:
            tables.append((parser.tags[DT_RELA][0], parser.tag(DT_RELASZ, 0), parser.tag(DT_RELAENT, rela.size), rela, False))
        if DT_REL in parser.tags:
            tables.append((parser.tags[DT_REL][0], parser.tag(DT_RELSZ, 0), parser.tag(DT_RELENT, rel.size), rel, False))
        if DT_JMPREL in parser.tags:
            fmt = rela if parser.tag(DT_PLTREL, DT_RELA) == DT_RELA else rel
            tables.append((parser.tags[DT_JMPREL][0], parser.tag(DT_PLTRELSZ, 0), fmt.size, fmt, True))
        names = {}
        referenced, copies, plt = set(), set(), set()

        blocks = {}
        per_block = 1024

        def name_of(index):
            # Symbols are read a block of entries at a time (one read per 1,024 entries, not
            # one per symbol: 40,000 relocations naming distinct symbols stay cheap).
            if index not in names:
                block, at = divmod(index, per_block)
                data = blocks.get(block)
                if data is None:
                    start = symtab + block * per_block * entsize_sym
                    if start >= parser.f.size:
                        raise parser.corrupt("relocated symbol {} (past the end of the file)".format(index))
                    data = blocks[block] = parser.f.read(
                        start, min(per_block * entsize_sym, parser.f.size - start), "relocated symbols")
                if at * entsize_sym + L.sym.size > len(data):
                    raise parser.corrupt("relocated symbol {} (past the end of the file)".format(index))
                names[index] = parser.string(L.sym.unpack_from(data, at * entsize_sym)[0])
            return names[index]

        for vaddr, size, entsize, fmt, is_plt in tables:
            if size > parser.f.size or entsize < fmt.size:
                raise parser.corrupt("relocation table")
            if not size:
                continue
            off = parser.offset_of(vaddr, "relocations", size)
            total = size - size % entsize
            step = max(1, _CHUNK * 4 // entsize) * entsize     # read in pieces of about 256 KiB
            for first in range(0, total, step):
                data = parser.f.read(off + first, min(step, total - first), "relocations")
                for pos in range(0, len(data), entsize):
                    info = fmt.unpack_from(data, pos)[1]
                    if mips64:
                        kind, index = (info >> 56) & 0xFF, info & 0xFFFFFFFF   # MIPS64 r_info layout
                    elif wide:
                        kind, index = info & 0xFFFFFFFF, info >> 32
                    else:
                        kind, index = info & 0xFF, info >> 8
                    if not index or kind == 0:
                        continue
                    name = name_of(index)
                    referenced.add(name)
                    if kind == r_copy:
                        copies.add(name)
                    if is_plt:
                        plt.add(name)
        return Relocations(frozenset(referenced), frozenset(copies), frozenset(plt))
    except (struct.error, OverflowError, MemoryError, ValueError) as exc:
        if isinstance(exc, ElfError):
            raise
        raise _corrupt(path, exc) from exc
    finally:
        parser.close()
