"""Read the dynamic part of an ELF file: header, dynamic tags, dynamic symbols, versions.

Pure Python, no Ceph knowledge.  Follows the System V gABI (ELF header, program headers,
"Dynamic Section", "Symbol Table") and the LSB's GNU extensions (DT_GNU_HASH, symbol
versioning: .gnu.version, .gnu.version_d, .gnu.version_r).  Everything is reached through
PT_DYNAMIC, so files whose section headers were stripped still read; only the byte ranges that
are needed are read (a 9 MB librbd costs a few hundred kilobytes of I/O).
"""
import array
import errno
import os
import re
import struct
import sys

from .errors import ElfError
from .model import record

ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

ET_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB = 0, 1, 4, 5, 6
DT_STRSZ, DT_SYMENT, DT_SONAME, DT_RPATH, DT_RUNPATH = 10, 11, 14, 15, 29
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF

SHT_DYNSYM = 11
SHN_UNDEF = 0
NT_GNU_BUILD_ID = 3

VER_NDX_LOCAL, VER_NDX_GLOBAL = 0, 1
VERSYM_HIDDEN = 0x8000
VER_FLG_BASE = 0x1

STT_NAMES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS",
             10: "GNU_IFUNC"}
STB_NAMES = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
STV_NAMES = {0: "DEFAULT", 1: "INTERNAL", 2: "HIDDEN", 3: "PROTECTED"}

# e_machine values from the gABI registry (elf.h).
_MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm", 43: "sparc64",
             50: "ia64", 62: "x86-64", 183: "aarch64", 243: "riscv", 258: "loongarch64"}

# String tables at least this large are mapped, not read, when no symbols are wanted.
_MAP_THRESHOLD = 256 * 1024
# Sanity bounds: a dynamic symbol table of more than this many entries is corruption here.
_MAX_SYMBOLS = 4000000
_MAX_PHNUM = 4096


class Symbol(record(
        "Symbol",
        "name defined type binding visibility value size version version_hidden "
        "version_file",
        (None, False, None))):
    # Fields (immutable):
    #   name: str
    #   defined: bool
    #   type: str
    #   binding: str
    #   visibility: str
    #   value: int
    #   size: int
    #   version: Optional[str] = None
    #   version_hidden: bool = False
    #   version_file: Optional[str] = None
    __slots__ = ()


class ElfInfo(record(
        "ElfInfo",
        "path size elf_class byte_order machine machine_code file_type soname "
        "needed runpath rpath build_id interpreter symbols version_definitions "
        "version_requirements has_section_headers marked_strings",
        (None, (), (), (), None, None, (), (), (), False, ()))):
    # Fields (immutable):
    #   path: str
    #   size: int
    #   elf_class: int
    #   byte_order: str
    #   machine: str
    #   machine_code: int
    #   file_type: str
    #   soname: Optional[str] = None
    #   needed: Tuple[str, ...] = ()
    #   runpath: Tuple[str, ...] = ()
    #   rpath: Tuple[str, ...] = ()
    #   build_id: Optional[str] = None
    #   interpreter: Optional[str] = None
    #   symbols: Tuple[Symbol, ...] = ()
    #   version_definitions: Tuple[str, ...] = ()
    #   version_requirements: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    #   has_section_headers: bool = False
    #   marked_strings: Tuple[str, ...] = ()  # dynamic strings with a requested prefix (read_elf markers=)
    __slots__ = ()


def machine_name(code, elf_class, byte_order):
    name = _MACHINES.get(code)
    if name is None:
        return "unknown({})".format(code)
    if code == 21:
        return "ppc64le" if byte_order == "little" else "ppc64"
    if code == 22:
        return "s390x" if elf_class == 64 else "s390"
    if code == 8:
        return ("mips64" if elf_class == 64 else "mips") + ("el" if byte_order == "little" else "")
    if code == 243:
        return "riscv64" if elf_class == 64 else "riscv32"
    return name


class _File(object):
    """Bounded reads from one open file; any short read is ElfError("truncated")."""

    def __init__(self, path):
        self.path = path
        try:
            self.handle = open(path, "rb")
            self.size = os.fstat(self.handle.fileno()).st_size
        except IsADirectoryError as exc:
            raise ElfError("{}: is a directory".format(path)) from exc
        except FileNotFoundError as exc:
            raise ElfError("{}: no such file".format(path)) from exc
        except PermissionError as exc:
            raise ElfError("{}: permission denied".format(path)) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ElfError("{}: too many levels of symbolic links".format(path)) from exc
            raise ElfError("{}: cannot open: {}".format(path, exc.strerror or exc)) from exc
        if os.path.isdir(path):
            self.handle.close()
            raise ElfError("{}: is a directory".format(path))

    def read(self, offset, length, what):
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError("{}: truncated or corrupt: {} needs bytes {}..{} but the file has {}".format(
                self.path, what, offset, offset + length, self.size))
        self.handle.seek(offset)
        data = self.handle.read(length)
        if len(data) != length:
            raise ElfError("{}: truncated while reading {}".format(self.path, what))
        return data

    def map(self, offset, length, what):
        """A read-only mmap of [offset, offset+length) (page-aligned start, sliced view)."""
        import mmap
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ElfError("{}: truncated or corrupt: {} needs bytes {}..{} but the file has {}".format(
                self.path, what, offset, offset + length, self.size))
        return _Window(mmap.mmap(self.handle.fileno(), 0, access=mmap.ACCESS_READ), offset, length)

    def close(self):
        self.handle.close()


class _Window(object):
    """bytes-like view of part of an mmap: len(), find(), slicing (what _cstr/_marked use)."""

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


class _Layout(object):
    """Class/byte-order specific struct formats (pypa/packaging _elffile.py style)."""

    def __init__(self, elf_class, byte_order):
        e = "<" if byte_order == "little" else ">"
        self.e = e
        if elf_class == 64:
            self.header = struct.Struct(e + "HHIQQQIHHHHHH")
            self.phdr = struct.Struct(e + "IIQQQQQQ")
            self.dyn = struct.Struct(e + "qQ")
            self.sym = struct.Struct(e + "IBBHQQ")
            self.shdr = struct.Struct(e + "IIQQQQIIQQ")
        else:
            self.header = struct.Struct(e + "HHIIIIIHHHHHH")
            self.phdr = struct.Struct(e + "IIIIIIII")
            self.dyn = struct.Struct(e + "iI")
            self.sym = struct.Struct(e + "IIIBBH")
            self.shdr = struct.Struct(e + "IIIIIIIIII")
        self.elf_class = elf_class
        self.u16 = struct.Struct(e + "H")
        self.u32 = struct.Struct(e + "I")
        self.verdef = struct.Struct(e + "HHHHIII")
        self.verdaux = struct.Struct(e + "II")
        self.verneed = struct.Struct(e + "HHIII")
        self.vernaux = struct.Struct(e + "IHHII")
        self.note = struct.Struct(e + "III")

    def phdr_fields(self, raw):
        """(p_type, p_offset, p_vaddr, p_filesz, p_align) for either class."""
        if self.elf_class == 64:
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, p_align = raw
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, _, _, p_align = raw
        return p_type, p_offset, p_vaddr, p_filesz, p_align

    def sym_fields(self, raw):
        """(st_name, st_info, st_other, st_shndx, st_value, st_size)."""
        if self.elf_class == 64:
            return raw
        st_name, st_value, st_size, st_info, st_other, st_shndx = raw
        return st_name, st_info, st_other, st_shndx, st_value, st_size


def _cstr(table, offset, path, what):
    if offset >= len(table):
        raise ElfError("{}: corrupt {} string offset {}".format(path, what, offset))
    end = table.find(b"\0", offset)
    if end < 0:
        raise ElfError("{}: unterminated {} string".format(path, what))
    return table[offset:end].decode("utf-8", "surrogateescape")


class _Parser(object):
    def __init__(self, path, copy_strtab=True):
        self.path = path
        self.f = _File(path)
        self.copy_strtab = copy_strtab

    def close(self):
        self.f.close()

    def header(self):
        f = self.f
        if f.size == 0:
            raise ElfError("{}: empty file (0 bytes), not an ELF file".format(self.path))
        ident = f.read(0, min(16, f.size), "e_ident")
        if not ident.startswith(ELFMAG):
            raise ElfError("{}: not an ELF file (bad magic {!r})".format(self.path, ident[:4]))
        if len(ident) < 16:
            raise ElfError("{}: truncated ELF identification".format(self.path))
        if ident[4] not in (ELFCLASS32, ELFCLASS64):
            raise ElfError("{}: unsupported ELF class {}".format(self.path, ident[4]))
        if ident[5] not in (ELFDATA2LSB, ELFDATA2MSB):
            raise ElfError("{}: unsupported ELF data encoding {}".format(self.path, ident[5]))
        self.elf_class = 64 if ident[4] == ELFCLASS64 else 32
        self.byte_order = "little" if ident[5] == ELFDATA2LSB else "big"
        L = self.layout = _Layout(self.elf_class, self.byte_order)
        raw = L.header.unpack(f.read(16, L.header.size, "ELF header"))
        (e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum,
         e_shentsize, e_shnum, e_shstrndx) = raw
        self.e_type, self.e_machine = e_type, e_machine
        self.e_shoff, self.e_shentsize, self.e_shnum, self.e_shstrndx = e_shoff, e_shentsize, e_shnum, e_shstrndx
        if e_phnum > _MAX_PHNUM or (e_phnum and e_phentsize < L.phdr.size):
            raise ElfError("{}: corrupt program header table".format(self.path))
        table = f.read(e_phoff, e_phnum * e_phentsize, "program headers") if e_phnum else b""
        self.segments = []
        for i in range(e_phnum):
            raw = L.phdr.unpack_from(table, i * e_phentsize)
            self.segments.append(L.phdr_fields(raw))
        self.loads = [s for s in self.segments if s[0] == PT_LOAD]

    def offset_of(self, vaddr, what):
        for _, p_offset, p_vaddr, p_filesz, _ in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        raise ElfError("{}: corrupt {} address 0x{:x} (outside every PT_LOAD segment)".format(
            self.path, what, vaddr))

    def dynamic(self):
        """{tag: [values]} from PT_DYNAMIC; empty for files without one."""
        self.tags = {}
        for p_type, p_offset, _, p_filesz, _ in self.segments:
            if p_type != PT_DYNAMIC:
                continue
            L = self.layout
            data = self.f.read(p_offset, p_filesz - p_filesz % L.dyn.size, "PT_DYNAMIC")
            for tag, value in L.dyn.iter_unpack(data):
                if tag == DT_NULL:
                    break
                self.tags.setdefault(tag, []).append(value)
            break
        self.strtab = b""
        if DT_STRTAB in self.tags:
            size = self.tags.get(DT_STRSZ, [0])[0]
            if size > self.f.size:
                raise ElfError("{}: corrupt DT_STRSZ {}".format(self.path, size))
            offset = self.offset_of(self.tags[DT_STRTAB][0], "DT_STRTAB")
            if size >= _MAP_THRESHOLD and not self.copy_strtab:
                # libceph-common's table is 1.5 MB: map it instead of copying it when only a
                # few strings are wanted (mmap has find() and slicing, all _cstr needs).
                self.strtab = self.f.map(offset, size, "dynamic string table")
            else:
                self.strtab = self.f.read(offset, size, "dynamic string table")

    def string(self, offset):
        return _cstr(self.strtab, offset, self.path, "dynamic")

    def strings(self, tag):
        return tuple(self.string(v) for v in self.tags.get(tag, ()))

    def build_id(self):
        for p_type, p_offset, _, p_filesz, p_align in self.segments:
            if p_type != PT_NOTE or p_filesz > 1 << 20:
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
                return self.f.read(p_offset, p_filesz, "PT_INTERP").rstrip(b"\0").decode("utf-8", "replace")
        return None

    def section_headers(self):
        """[(name_offset, type, offset, size, entsize)] or [] when stripped/absent."""
        if not self.e_shoff or not self.e_shnum or self.e_shentsize < self.layout.shdr.size:
            return []
        if self.e_shoff + self.e_shnum * self.e_shentsize > self.f.size:
            return []
        data = self.f.read(self.e_shoff, self.e_shnum * self.e_shentsize, "section headers")
        out = []
        for i in range(self.e_shnum):
            raw = self.layout.shdr.unpack_from(data, i * self.e_shentsize)
            sh_name, sh_type, _, _, sh_offset, sh_size, _, _, _, sh_entsize = raw
            out.append((sh_name, sh_type, sh_offset, sh_size, sh_entsize))
        return out

    def _unpack(self, fmt, data, pos, what):
        if pos < 0 or pos + fmt.size > len(data):
            raise ElfError("{}: truncated or corrupt {} record".format(self.path, what))
        return fmt.unpack_from(data, pos)

    def symbol_count(self, sections):
        for _, sh_type, _, sh_size, sh_entsize in sections:
            if sh_type == SHT_DYNSYM and sh_entsize:
                return sh_size // sh_entsize
        u32 = self.layout.u32
        if DT_HASH in self.tags:
            off = self.offset_of(self.tags[DT_HASH][0], "DT_HASH")
            return u32.unpack(self.f.read(off + 4, 4, "DT_HASH nchain"))[0]
        if DT_GNU_HASH in self.tags:
            return self._gnu_hash_count()
        return 0

    def _gnu_hash_count(self):
        # DT_GNU_HASH has no symbol count: the highest bucket start, then walk its chain to
        # the entry with the low bit set (the end-of-chain marker).
        f = self.f
        u32 = self.layout.u32
        off = self.offset_of(self.tags[DT_GNU_HASH][0], "DT_GNU_HASH")
        nbuckets, symoffset, bloom_size, _ = struct.unpack(self.layout.e + "IIII", f.read(off, 16, "DT_GNU_HASH"))
        word = 8 if self.elf_class == 64 else 4
        if nbuckets > _MAX_SYMBOLS or bloom_size > _MAX_SYMBOLS:
            raise ElfError("{}: corrupt DT_GNU_HASH header".format(self.path))
        buckets_off = off + 16 + bloom_size * word
        buckets = struct.unpack(self.layout.e + "{}I".format(nbuckets), f.read(buckets_off, 4 * nbuckets, "GNU hash buckets"))
        last = max(buckets) if buckets else 0
        if last < symoffset:
            return symoffset
        chains_off = buckets_off + 4 * nbuckets
        index = last
        while True:
            value = u32.unpack(f.read(chains_off + 4 * (index - symoffset), 4, "GNU hash chain"))[0]
            if value & 1:
                return index + 1
            index += 1
            if index > _MAX_SYMBOLS:
                raise ElfError("{}: corrupt DT_GNU_HASH chain".format(self.path))

    def _region(self, vaddr, what):
        """(bytes from vaddr to the end of its PT_LOAD segment, capped, base offset).

        Version tables are chains of small records: one read, then parse in memory."""
        off = self.offset_of(vaddr, what)
        for _, p_offset, p_vaddr, p_filesz, _ in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                end = min(p_offset + p_filesz, off + (1 << 20), self.f.size)
                return self.f.read(off, end - off, what), off
        return b"", off

    def versions(self):
        """(defs {ndx: name}, def_names, needs {ndx: (name, file)}, requirements)."""
        L = self.layout
        defs, def_names, needs, reqs = {}, [], {}, []
        if DT_VERDEF in self.tags:
            count = self.tags.get(DT_VERDEFNUM, [0])[0]
            data, _ = self._region(self.tags[DT_VERDEF][0], "DT_VERDEF")
            pos = 0
            for _ in range(min(count, 65535)):
                _, _, vd_ndx, vd_cnt, _, vd_aux, vd_next = self._unpack(L.verdef, data, pos, "verdef")
                if vd_cnt:
                    vda_name, _ = self._unpack(L.verdaux, data, pos + vd_aux, "verdaux")
                    name = self.string(vda_name)
                    defs[vd_ndx] = name
                    def_names.append(name)
                if not vd_next:
                    break
                pos += vd_next
        if DT_VERNEED in self.tags:
            count = self.tags.get(DT_VERNEEDNUM, [0])[0]
            data, _ = self._region(self.tags[DT_VERNEED][0], "DT_VERNEED")
            pos = 0
            for _ in range(min(count, 65535)):
                _, vn_cnt, vn_file, vn_aux, vn_next = self._unpack(L.verneed, data, pos, "verneed")
                filename = self.string(vn_file)
                names = []
                aux = pos + vn_aux
                for _ in range(min(vn_cnt, 65535)):
                    _, _, vna_other, vna_name, vna_next = self._unpack(L.vernaux, data, aux, "vernaux")
                    name = self.string(vna_name)
                    needs[vna_other] = (name, filename)
                    names.append(name)
                    if not vna_next:
                        break
                    aux += vna_next
                reqs.append((filename, tuple(names)))
                if not vn_next:
                    break
                pos += vn_next
        return defs, tuple(def_names), needs, tuple(reqs)

    def _indices_with_prefix(self, data, count, prefixes):
        """Indices of symbols whose name starts with one of ``prefixes``, found in C code.

        The st_name column is pulled out of the table with an array slice and each name is
        tested with bytes.startswith(tuple, offset): a 14,000-symbol libceph-common costs a
        millisecond or two instead of unpacking every entry.  (Names are tested at their
        offset, not searched for, because ld merges string tails in .dynstr.)
        """
        column = array.array("I")
        column.frombytes(data)
        if (sys.byteorder == "little") != (self.byte_order == "little"):
            column.byteswap()
        step = self.layout.sym.size // 4
        names = column[::step]              # st_name is the first word in both classes
        startswith = self.strtab.startswith
        return [i for i, name in enumerate(names) if startswith(prefixes, name)]

    def symbols(self, count, name_filter, defs, needs, defined_only=False):
        if not count or DT_SYMTAB not in self.tags:
            return ()
        L = self.layout
        if count > _MAX_SYMBOLS or count * L.sym.size > self.f.size:
            raise ElfError("{}: corrupt dynamic symbol count {}".format(self.path, count))
        off = self.offset_of(self.tags[DT_SYMTAB][0], "DT_SYMTAB")
        data = self.f.read(off, count * L.sym.size, "dynamic symbol table")
        versym = None
        if DT_VERSYM in self.tags:
            voff = self.offset_of(self.tags[DT_VERSYM][0], "DT_VERSYM")
            versym = struct.unpack(L.e + "{}H".format(count), self.f.read(voff, 2 * count, "versym"))
        strtab = self.strtab
        strlen = len(strtab)
        indices = range(count)
        if isinstance(name_filter, tuple):
            indices = self._indices_with_prefix(data, count, name_filter)
            name_filter = None
        accept = None
        if name_filter is not None:
            accept = lambda start: name_filter(strtab[start:strtab.find(b"\0", start)])  # noqa: E731
        out = []
        fields = L.sym_fields
        unpack = L.sym.unpack_from
        size = L.sym.size
        for index in indices:
            st_name, st_info, st_other, st_shndx, st_value, st_size = fields(unpack(data, index * size))
            if index == 0 or not st_name or (defined_only and st_shndx == SHN_UNDEF):
                continue
            if st_name >= strlen:
                raise ElfError("{}: corrupt symbol name offset {}".format(self.path, st_name))
            if accept is not None and not accept(st_name):
                continue
            end = strtab.find(b"\0", st_name)
            if end < 0:
                raise ElfError("{}: unterminated symbol name".format(self.path))
            name = strtab[st_name:end].decode("utf-8", "surrogateescape")
            defined = st_shndx != SHN_UNDEF
            version = version_file = None
            hidden = False
            if versym is not None:
                raw_ndx = versym[index]
                ndx = raw_ndx & 0x7FFF
                hidden = bool(raw_ndx & VERSYM_HIDDEN)
                if ndx > VER_NDX_GLOBAL:
                    if ndx in defs and (defined or ndx not in needs):
                        version = defs[ndx]
                    elif ndx in needs:
                        version, version_file = needs[ndx]
            out.append(Symbol(name, defined, STT_NAMES.get(st_info & 0xF, str(st_info & 0xF)),
                              STB_NAMES.get(st_info >> 4, str(st_info >> 4)),
                              STV_NAMES[st_other & 0x3], st_value, st_size, version, hidden, version_file))
        return tuple(out)


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


def _read(path, with_symbols, name_filter, markers=(), defined_only=False):
    parser = _Parser(path, copy_strtab=with_symbols)
    try:
        parser.header()
        parser.dynamic()
        sections = parser.section_headers()
        symbols = ()
        def_names = ()
        reqs = ()
        if with_symbols:
            defs, def_names, needs, reqs = parser.versions()
            symbols = parser.symbols(parser.symbol_count(sections), name_filter, defs, needs, defined_only)
        order = parser.byte_order
        return ElfInfo(
            path=path, size=parser.f.size, elf_class=parser.elf_class, byte_order=order,
            machine=machine_name(parser.e_machine, parser.elf_class, order), machine_code=parser.e_machine,
            file_type=ET_NAMES.get(parser.e_type, str(parser.e_type)),
            soname=(parser.strings(DT_SONAME) or (None,))[0], needed=parser.strings(DT_NEEDED),
            runpath=_split_path(parser.strings(DT_RUNPATH)), rpath=_split_path(parser.strings(DT_RPATH)),
            build_id=parser.build_id(), interpreter=parser.interpreter(), symbols=symbols,
            version_definitions=def_names, version_requirements=reqs, has_section_headers=bool(sections),
            marked_strings=_marked(parser.strtab, markers))
    except struct.error as exc:
        raise ElfError("{}: corrupt ELF structure: {}".format(path, exc)) from exc
    except (OverflowError, MemoryError) as exc:
        raise ElfError("{}: corrupt ELF structure (absurd size)".format(path)) from exc
    finally:
        parser.close()


def _split_path(values):
    out = []
    for value in values:
        out.extend(p for p in value.split(":") if p)
    return tuple(out)


def read_header(path):
    """Header, dynamic tags and build-id; no symbols (cheap)."""
    return _read(path, False, None)


def read_identity(path):
    """Only the ELF header: class, byte order, machine, type (one small read).

    What a loader checks before it accepts a candidate file; used for every copy of a
    library found on the system, where the dynamic section is not needed.
    """
    parser = _Parser(path)
    try:
        parser.header()
        order = parser.byte_order
        return ElfInfo(path=path, size=parser.f.size, elf_class=parser.elf_class, byte_order=order,
                       machine=machine_name(parser.e_machine, parser.elf_class, order),
                       machine_code=parser.e_machine, file_type=ET_NAMES.get(parser.e_type, str(parser.e_type)))
    except struct.error as exc:
        raise ElfError("{}: corrupt ELF header: {}".format(path, exc)) from exc
    finally:
        parser.close()


def read_elf(path, symbols=True, name_filter=None, markers=(), defined_only=False):
    """Everything above plus dynamic symbols and version tables.

    ``name_filter`` is a tuple of byte prefixes or a callable on the raw name; it is applied
    before records are built, so filtering a large library stays cheap.  ``markers`` (byte
    prefixes) fills ``marked_strings`` from the dynamic string table of the same read.
    """
    return _read(path, symbols, name_filter, markers)


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
    return list(read_elf(path, symbols=False, markers=prefixes).marked_strings)


def find_strings(path, pattern, section=".rodata", limit=64, chunk=1 << 20):
    """``pattern`` (bytes regex with one group) matches inside one named section.

    Needs section headers; returns [] when they are stripped.  Reads the section in chunks
    with an overlap so memory stays bounded for a multi-megabyte .rodata.
    """
    regex = re.compile(pattern) if isinstance(pattern, bytes) else pattern
    parser = _Parser(path)
    try:
        parser.header()
        sections = parser.section_headers()
        if not sections or parser.e_shstrndx >= len(sections):
            return []
        _, _, str_off, str_size, _ = sections[parser.e_shstrndx]
        names = parser.f.read(str_off, str_size, "section name table")
        target = None
        for sh_name, sh_type, sh_offset, sh_size, _ in sections:
            if sh_name < len(names) and _cstr(names, sh_name, path, "section") == section:
                target = (sh_offset, sh_size)
                break
        if target is None:
            return []
        start, size = target
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
