"""A tiny writer of synthetic ELF shared objects, for the cases no real binary on this
machine shows: 32-bit, big-endian, other machines, no section headers, corrupt fields.

Layout: one PT_LOAD mapping the whole file at vaddr == offset, a PT_DYNAMIC, .dynsym,
.dynstr, DT_HASH (so the symbol count is known without section headers), optional
DT_VERSYM/DT_VERDEF, and optional section headers naming .dynsym and .shstrtab.
"""
import struct

DT = {"NULL": 0, "NEEDED": 1, "HASH": 4, "STRTAB": 5, "SYMTAB": 6, "STRSZ": 10, "SYMENT": 11,
      "SONAME": 14, "RUNPATH": 29, "VERSYM": 0x6FFFFFF0, "VERDEF": 0x6FFFFFFC, "VERDEFNUM": 0x6FFFFFFD}
STT = {"NOTYPE": 0, "OBJECT": 1, "FUNC": 2}
STB = {"LOCAL": 0, "GLOBAL": 1, "WEAK": 2}


def build(elf_class=64, byte_order="little", machine=62, soname="libtest.so.1", needed=(), runpath=None,
          symbols=(), versions=(), section_headers=True):
    """symbols: (name, defined, type, binding, version index or None)."""
    e = "<" if byte_order == "little" else ">"
    is64 = elf_class == 64
    strtab = bytearray(b"\0")

    def add_str(text):
        offset = len(strtab)
        strtab.extend(text.encode() + b"\0")
        return offset

    soname_off = add_str(soname) if soname else None
    needed_offs = [add_str(n) for n in needed]
    runpath_off = add_str(runpath) if runpath else None
    sym_name_offs = [add_str(s[0]) for s in symbols]
    version_offs = [add_str(v) for v in versions]

    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    sym_fmt = e + ("IBBHQQ" if is64 else "IIIBBH")
    sym_size = struct.calcsize(sym_fmt)
    dyn_fmt = e + ("qQ" if is64 else "iI")
    phnum = 2
    offset = ehsize + phnum * phentsize

    dynsym = bytearray(sym_size)                  # index 0: the null symbol
    for (name, defined, kind, binding, _), name_off in zip(symbols, sym_name_offs):
        info = (STB[binding] << 4) | STT[kind]
        shndx = 7 if defined else 0
        if is64:
            dynsym += struct.pack(sym_fmt, name_off, info, 0, shndx, 0x1000 if defined else 0, 8 if defined else 0)
        else:
            dynsym += struct.pack(sym_fmt, name_off, 0x1000 if defined else 0, 8 if defined else 0, info, 0, shndx)
    nsyms = len(symbols) + 1
    hash_table = struct.pack(e + "II", 1, nsyms) + struct.pack(e + "I", 0) + struct.pack(e + "{}I".format(nsyms), *([0] * nsyms))

    versym = b""
    verdef = b""
    if versions:
        versym = struct.pack(e + "{}H".format(nsyms), 0, *[(s[4] if s[4] is not None else 1) for s in symbols])
        entries = []
        # index 1: the base (soname) definition, then one per version name
        names = [soname_off] + version_offs
        for i, name_off in enumerate(names):
            last = i == len(names) - 1
            vd = struct.pack(e + "HHHHIII", 1, 1 if i == 0 else 0, i + 1, 1, 0, 20, 0 if last else 28)
            aux = struct.pack(e + "II", name_off, 0)
            entries.append(vd + aux)
        verdef = b"".join(entries)

    blobs = {}
    layout = bytearray()
    for name, blob, align in (("dynsym", bytes(dynsym), 8), ("dynstr", bytes(strtab), 1), ("hash", hash_table, 4),
                              ("versym", versym, 2), ("verdef", verdef, 4)):
        pad = (-(offset + len(layout))) % align
        layout += b"\0" * pad
        blobs[name] = offset + len(layout)
        layout += blob
    dyn_entries = []
    for n_off in needed_offs:
        dyn_entries.append((DT["NEEDED"], n_off))
    if soname_off is not None:
        dyn_entries.append((DT["SONAME"], soname_off))
    if runpath_off is not None:
        dyn_entries.append((DT["RUNPATH"], runpath_off))
    dyn_entries += [(DT["HASH"], blobs["hash"]), (DT["STRTAB"], blobs["dynstr"]), (DT["SYMTAB"], blobs["dynsym"]),
                    (DT["STRSZ"], len(strtab)), (DT["SYMENT"], sym_size)]
    if versions:
        dyn_entries += [(DT["VERSYM"], blobs["versym"]), (DT["VERDEF"], blobs["verdef"]),
                        (DT["VERDEFNUM"], len(versions) + 1)]
    dyn_entries.append((DT["NULL"], 0))
    layout += b"\0" * ((-(offset + len(layout))) % 8)
    dynamic_off = offset + len(layout)
    dynamic = b"".join(struct.pack(dyn_fmt, t, v) for t, v in dyn_entries)
    layout += dynamic

    shdrs = b""
    shoff = shnum = shstrndx = 0
    if section_headers:
        shstr = b"\0.dynsym\0.shstrtab\0"
        layout += shstr
        shstr_off = offset + len(layout) - len(shstr)
        layout += b"\0" * ((-(offset + len(layout))) % 8)
        shoff = offset + len(layout)
        sh_fmt = e + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        shdrs = struct.pack(sh_fmt, *([0] * 10))
        shdrs += struct.pack(sh_fmt, 1, 11, 2, blobs["dynsym"], blobs["dynsym"], len(dynsym), 2, 1, 8, sym_size)
        shdrs += struct.pack(sh_fmt, 9, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
        shnum, shstrndx = 3, 2
        layout += shdrs
    total = offset + len(layout)

    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if byte_order == "little" else 2, 1, 0]) + b"\0" * 8
    if is64:
        header = ident + struct.pack(e + "HHIQQQIHHHHHH", 3, machine, 1, 0, ehsize, shoff, 0, ehsize, phentsize,
                                     phnum, 64 if section_headers else 0, shnum, shstrndx)
        phdr_fmt = e + "IIQQQQQQ"
        phdrs = struct.pack(phdr_fmt, 1, 5, 0, 0, 0, total, total, 0x1000)
        phdrs += struct.pack(phdr_fmt, 2, 6, dynamic_off, dynamic_off, dynamic_off, len(dynamic), len(dynamic), 8)
    else:
        header = ident + struct.pack(e + "HHIIIIIHHHHHH", 3, machine, 1, 0, ehsize, shoff, 0, ehsize, phentsize,
                                     phnum, 40 if section_headers else 0, shnum, shstrndx)
        phdr_fmt = e + "IIIIIIII"
        phdrs = struct.pack(phdr_fmt, 1, 0, 0, 0, total, total, 5, 0x1000)
        phdrs += struct.pack(phdr_fmt, 2, dynamic_off, dynamic_off, dynamic_off, len(dynamic), len(dynamic), 6, 4)
    data = header + phdrs + bytes(layout)
    assert len(data) == total
    return data
