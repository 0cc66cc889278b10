"""A tiny writer of synthetic ELF shared objects, for the cases no real binary on this
machine shows: 32-bit, big-endian, other machines, no section headers, a SysV DT_HASH instead
of DT_GNU_HASH, corrupt fields.  The files are valid enough for readelf, which the tests use
as the referee.

Layout: ELF header, program headers (one PT_LOAD mapping the whole file at vaddr == offset,
PT_DYNAMIC, optional PT_NOTE and PT_INTERP), then the tables, then optional section headers.
``build()`` returns an ``Image``: the bytes plus the file offset of every table (for tests that
corrupt one field).
"""
import struct

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH, DT_GNU_HASH = 14, 15, 29, 0x6FFFFEF5
DT_VERSYM, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = (
    0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF)
STT = {"NOTYPE": 0, "OBJECT": 1, "FUNC": 2, "SECTION": 3, "FILE": 4, "COMMON": 5, "TLS": 6, "GNU_IFUNC": 10}
STB = {"LOCAL": 0, "GLOBAL": 1, "WEAK": 2, "GNU_UNIQUE": 10}
STV = {"DEFAULT": 0, "INTERNAL": 1, "HIDDEN": 2, "PROTECTED": 3}


class Sym(tuple):
    """(name, defined, type, binding, version, hidden, visibility): a symbol to write.

    ``version`` names a definition (defined symbols) or a requirement (undefined ones)."""

    def __new__(cls, name, defined=True, type="FUNC", binding="GLOBAL", version=None, hidden=False,
                visibility="DEFAULT"):
        return tuple.__new__(cls, (name, defined, type, binding, version, hidden, visibility))


class Image(object):
    def __init__(self, data, offsets, ehdr_layout):
        self.data, self.offsets, self.ehdr = data, offsets, ehdr_layout

    def write(self, path):
        with open(str(path), "wb") as handle:
            handle.write(self.data)
        return str(path)


def sysv_hash(name):
    """gABI "Hash Table" hash function (also vd_hash / vna_hash)."""
    h = 0
    for c in name.encode():
        h = ((h << 4) + c) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def gnu_hash(name):
    h = 5381
    for c in name.encode():
        h = (h * 33 + c) & 0xFFFFFFFF
    return h


def build(elf_class=64, byte_order="little", machine=62, soname="libtest.so.1", needed=(), runpath=None,
          rpath=None, symbols=(), verdefs=(), verneed=(), section_headers=True, hash_style="gnu",
          build_id=None, interp=None, rodata=b"", file_type=3):
    """``symbols``: Sym records; undefined ones are written first (DT_GNU_HASH wants the
    hashed, defined symbols last).  ``verdefs``: version names (the VER_FLG_BASE definition,
    named after the soname, is added as index 1).  ``verneed``: ((file, (names...)), ...)."""
    e = "<" if byte_order == "little" else ">"
    is64 = elf_class == 64
    word = "Q" if is64 else "I"
    strtab = bytearray(b"\0")
    offsets_of = {}

    def add_str(text):
        if text not in offsets_of:
            offsets_of[text] = len(strtab)
            strtab.extend(text.encode() + b"\0")
        return offsets_of[text]

    symbols = [s for s in symbols if not s[1]] + [s for s in symbols if s[1]]
    defs = [soname or "base"] + list(verdefs)
    def_index = {name: i + 1 for i, name in enumerate(defs)}
    need_index = {}
    for file_name, names in verneed:
        for name in names:
            need_index[(file_name, name)] = need_index.get((file_name, name), len(defs) + 1 + len(need_index))
    need_by_name = {name: ndx for (_, name), ndx in need_index.items()}
    versioned = bool(verdefs or verneed)

    dyn = []
    for name in needed:
        dyn.append((DT_NEEDED, add_str(name)))
    for tag, value in ((DT_SONAME, soname), (DT_RUNPATH, runpath), (DT_RPATH, rpath)):
        if value:
            dyn.append((tag, add_str(value)))

    sym_fmt = e + ("IBBHQQ" if is64 else "IIIBBH")
    sym_size = struct.calcsize(sym_fmt)
    dynsym, versym = bytearray(sym_size), [0]
    for name, defined, kind, binding, version, hidden, vis in symbols:
        info, other, shndx = (STB[binding] << 4) | STT[kind], STV[vis], 1 if defined else 0
        value, size = (0x1000 + 16 * len(versym), 16) if defined else (0, 0)
        fields = (add_str(name), info, other, shndx, value, size) if is64 else (
            add_str(name), value, size, info, other, shndx)
        dynsym += struct.pack(sym_fmt, *fields)
        ndx = 1
        if version is not None:
            ndx = def_index[version] if defined else need_by_name[version]
        versym.append(ndx | (0x8000 if hidden else 0))
    nsyms = len(versym)

    verdef = bytearray()
    for i, name in enumerate(defs if verdefs else ()):
        nxt = 0 if i == len(defs) - 1 else 28
        verdef += struct.pack(e + "HHHHIII", 1, 1 if i == 0 else 0, i + 1, 1, sysv_hash(name), 20, nxt)
        verdef += struct.pack(e + "II", add_str(name), 0)
    verneed_blob = bytearray()
    for i, (file_name, names) in enumerate(verneed):
        nxt = 0 if i == len(verneed) - 1 else 16 + 16 * len(names)
        verneed_blob += struct.pack(e + "HHIII", 1, len(names), add_str(file_name), 16, nxt)
        for j, name in enumerate(names):
            verneed_blob += struct.pack(e + "IHHII", sysv_hash(name), 0, need_index[(file_name, name)],
                                        add_str(name), 0 if j == len(names) - 1 else 16)

    if hash_style == "gnu":
        # One bucket, a bloom filter of all ones (every lookup passes it), the chain of the
        # defined symbols with the last one's low bit set ("GNU Hash ELF Sections").
        symoffset = next((i + 1 for i, s in enumerate(symbols) if s[1]), nsyms)
        chain = [gnu_hash(s[0]) & ~1 for s in symbols[symoffset - 1:]]
        if chain:
            chain[-1] |= 1
        hash_blob = struct.pack(e + "IIII", 1, symoffset, 1, 6) + struct.pack(e + word, (1 << (elf_class)) - 1)
        hash_blob += struct.pack(e + "I", symoffset if chain else 0) + struct.pack(e + "{}I".format(len(chain)), *chain)
        hash_tag = DT_GNU_HASH
    else:
        # gABI "Hash Table": one bucket holding the last symbol, each chain entry the previous.
        # 64-bit s390 (and Alpha) use 8-byte hash words.
        h = "Q" if is64 and machine in (22, 0x9026) else "I"
        hash_blob = struct.pack(e + h * 3, 1, nsyms, nsyms - 1) + struct.pack(
            e + "{}{}".format(nsyms, h), *[max(0, i - 1) for i in range(nsyms)])
        hash_tag = DT_HASH

    note = b""
    if build_id is not None:
        note = struct.pack(e + "III", 4, len(build_id), 3) + b"GNU\0" + build_id + b"\0" * (-len(build_id) % 4)

    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    phnum = 2 + bool(note) + bool(interp)
    offset = ehsize + phnum * phentsize
    body = bytearray()
    at = {}

    def place(name, blob, align):
        body.extend(b"\0" * ((-(offset + len(body))) % align))
        at[name] = offset + len(body)
        body.extend(blob)

    place("interp", (interp or "").encode() + b"\0" if interp else b"", 1)
    place("note", note, 4)
    place("hash", hash_blob, 8)
    place("dynsym", bytes(dynsym), 8)
    place("versym", struct.pack(e + "{}H".format(nsyms), *versym) if versioned else b"", 2)
    place("verdef", bytes(verdef), 8)
    place("verneed", bytes(verneed_blob), 8)
    place("rodata", rodata, 1)
    dyn += [(hash_tag, at["hash"]), (DT_SYMTAB, at["dynsym"]), (DT_SYMENT, sym_size)]
    if versioned:
        dyn.append((DT_VERSYM, at["versym"]))
    if verdefs:
        dyn += [(DT_VERDEF, at["verdef"]), (DT_VERDEFNUM, len(defs))]
    if verneed:
        dyn += [(DT_VERNEED, at["verneed"]), (DT_VERNEEDNUM, len(verneed))]
    place("dynstr", bytes(strtab), 1)            # last: every string is in by now
    dyn += [(DT_STRTAB, at["dynstr"]), (DT_STRSZ, len(strtab)), (DT_NULL, 0)]
    dynamic = b"".join(struct.pack(e + ("qQ" if is64 else "iI"), t, v) for t, v in dyn)
    place("dynamic", dynamic, 8)

    shoff = shnum = shstrndx = 0
    if section_headers:
        # (name, sh_type, sh_flags, blob name, sh_link, sh_info, sh_addralign, sh_entsize)
        table = [(".interp", 1, 2, "interp", 0, 0, 1, 0), (".note.gnu.build-id", 7, 2, "note", 0, 0, 4, 0),
                 (".gnu.hash" if hash_style == "gnu" else ".hash", 0x6FFFFFF6 if hash_style == "gnu" else 5,
                  2, "hash", 3, 0, 8, 0 if hash_style == "gnu" else struct.calcsize(h)),
                 (".dynsym", 11, 2, "dynsym", 4, 1, 8, sym_size), (".dynstr", 3, 2, "dynstr", 0, 0, 1, 0),
                 (".gnu.version", 0x6FFFFFFF, 2, "versym", 3, 0, 2, 2),
                 (".gnu.version_d", 0x6FFFFFFD, 2, "verdef", 4, len(defs), 8, 0),
                 (".gnu.version_r", 0x6FFFFFFE, 2, "verneed", 4, len(verneed), 8, 0),
                 (".rodata", 1, 2, "rodata", 0, 0, 1, 0), (".dynamic", 6, 3, "dynamic", 4, 0, 8, 16 if is64 else 8)]
        sizes = {"interp": len((interp or "").encode()) + 1 if interp else 0, "note": len(note),
                 "hash": len(hash_blob), "dynsym": len(dynsym), "dynstr": len(strtab),
                 "versym": 2 * nsyms if versioned else 0, "verdef": len(verdef), "verneed": len(verneed_blob),
                 "rodata": len(rodata), "dynamic": len(dynamic)}
        table = [row for row in table if sizes[row[3]]]
        index = {row[3]: i + 1 for i, row in enumerate(table)}
        shstr = bytearray(b"\0")
        names = []
        for row in table + [(".shstrtab",)]:
            names.append(len(shstr))
            shstr += row[0].encode() + b"\0"
        place("shstrtab", bytes(shstr), 1)
        sh_fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        shdrs = struct.pack(sh_fmt, *([0] * 10))
        for name_off, (_, sh_type, flags, blob, link, info, align, entsize) in zip(names, table):
            link = index.get("dynstr", 0) if link == 4 else index.get("dynsym", 0) if link == 3 else 0
            shdrs += struct.pack(sh_fmt, name_off, sh_type, flags, at[blob], at[blob], sizes[blob], link, info,
                                 align, entsize)
        shdrs += struct.pack(sh_fmt, names[-1], 3, 0, 0, at["shstrtab"], len(shstr), 0, 0, 1, 0)
        place("shdrs", shdrs, 8)
        shoff, shnum, shstrndx = at["shdrs"], len(table) + 2, len(table) + 1
    total = offset + len(body)

    # ld marks files using GNU symbol types/bindings ELFOSABI_GNU (readelf names them only then).
    osabi = 3 if any(s[2] == "GNU_IFUNC" or s[3] == "GNU_UNIQUE" for s in symbols) else 0
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if byte_order == "little" else 2, 1, osabi]) + b"\0" * 8
    hdr_fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    header = ident + struct.pack(hdr_fmt, file_type, machine, 1, 0, ehsize, shoff, 0, ehsize, phentsize, phnum,
                                 struct.calcsize(e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")), shnum, shstrndx)
    segments = [(1, 4, 0, total, 0x1000)]           # (p_type, p_flags, offset, size, align)
    if interp:
        segments.insert(0, (3, 4, at["interp"], len(interp.encode()) + 1, 1))
    segments.append((2, 6, at["dynamic"], len(dynamic), 8))
    if note:
        segments.append((4, 4, at["note"], len(note), 4))
    phdrs = b""
    for p_type, flags, off, size, align in segments:
        if is64:
            phdrs += struct.pack(e + "IIQQQQQQ", p_type, flags, off, off, off, size, size, align)
        else:
            phdrs += struct.pack(e + "IIIIIIII", p_type, off, off, off, size, size, flags, align)
    at["phdrs"] = ehsize
    at["phdr_dynamic"] = ehsize + phentsize * [s[0] for s in segments].index(2)
    data = header + phdrs + bytes(body)
    assert len(data) == total
    return Image(data, at, {"phoff": 32 if is64 else 28, "shoff": 40 if is64 else 32,
                            "shnum": 60 if is64 else 48, "phentsize": phentsize})
