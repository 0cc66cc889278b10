"""Stand-ins for the real Debian builds: the same soname and C functions, some left out.

A stand-in librbd is compiled with ``cc`` (tests/stubs.py) from the real library's exported
``rbd_*`` names as read by ``readelf`` (the outside oracle, not the code under test), minus
the functions a test removes.  ``standin_root`` lays it out like an unpacked package tree
next to a copy of the real librados, so ``--root`` and ``diff`` see a build that lost them.
"""
import os
import re
import shutil
import subprocess

from conftest import need
from stubs import build_library

LIBDIR = "usr/lib/x86_64-linux-gnu"


def readelf_functions(path, prefix=("rbd_", "rados_")):
    """Defined FUNC symbols name[@NODE] of ``path`` as readelf prints them (``@@`` -> ``@``)."""
    need(shutil.which("readelf") is not None, "readelf (binutils) not installed")
    out = subprocess.run(["readelf", "-W", "--dyn-syms", path], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[3] not in ("FUNC", "IFUNC") or fields[6] == "UND":
            continue
        if fields[4] not in ("GLOBAL", "WEAK") or fields[5] not in ("DEFAULT", "PROTECTED"):
            continue
        name = re.sub(r"@@?", "@", fields[7])
        if name.startswith(prefix):
            names.add(name)
    return names


def build_standin(dest, real_librbd, drop=()):
    """A librbd.so.1 exporting the real library's rbd_* functions except ``drop``."""
    names = sorted(n for n in readelf_functions(real_librbd, ("rbd_",)) if n not in drop)
    assert names, real_librbd
    source = "".join("void {}(void) {{}}\n".format(n) for n in names)
    return build_library(dest, "librbd.so.1", {"standin.c": source})


def standin_root(tmp, real_root, drop=()):
    """An unpacked-package tree: stand-in librbd (lacking ``drop``) + the real librados."""
    root = os.path.join(str(tmp), "root")
    libdir = os.path.join(root, LIBDIR)
    os.makedirs(libdir)
    real_librbd = os.path.join(real_root, LIBDIR, "librbd.so.1")
    built = build_standin(os.path.join(str(tmp), "build"), real_librbd, drop)
    shutil.copy(built, os.path.join(libdir, "librbd.so.1"))
    shutil.copy(os.path.join(real_root, LIBDIR, "librados.so.2"), os.path.join(libdir, "librados.so.2"))
    return root
