#!/usr/bin/env python3
"""Build ``librbd-probe.pyz``: the whole tool in one file, for hosts where nothing is installed.

    python3 tools/build_pyz.py [-o dist/librbd-probe.pyz] [--python "/usr/bin/env python3"] [--compile PY]

Runs with any Python >= 3.6 on the target: ``python3 librbd-probe.pyz --json``.  It is a
stdlib zipapp (PEP 441): the package's modules and data files are put into a zip in sorted
order with fixed time stamps (SOURCE_DATE_EPOCH, default 1980-01-01), so the same sources give
the same bytes; ``zipapp.create_archive`` then adds the shebang line.  The equivalent by hand
(not byte-reproducible: zipapp takes file times and directory order from the disk):

    mkdir -p build/pyz && cp -r librbd_probe build/pyz/ && rm -rf build/pyz/librbd_probe/__pycache__
    printf 'import sys\nfrom librbd_probe.cli import main\nsys.exit(main())\n' > build/pyz/__main__.py
    python3 -m zipapp build/pyz -p "/usr/bin/env python3" -o librbd-probe.pyz

(``-m librbd_probe.cli:main`` would drop the exit code: zipapp's generated __main__ ignores it.)

``--compile /usr/bin/python3`` also ships that interpreter's bytecode (>= 3.7, unchecked-hash
.pyc beside each .py): a zip cannot cache bytecode, so without it every run compiles the
package (bench/bench_pyz.py measures both); other interpreters ignore the foreign bytecode.

Which files: what the installed package ships (setup.py: the packages' ``*.py`` and their
``*.json`` package data), nothing else (no __pycache__, no tests).
"""
import argparse
import io
import os
import sys
import time
import zipapp
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PACKAGE = "librbd_probe"
DEFAULT_EPOCH = 315532800          # 1980-01-01, the first time a zip entry can carry

# The archive's own entry point.  Written in syntax every Python can parse, so an old
# interpreter gets one line instead of a SyntaxError from deep inside the package.
MAIN = '''\
# librbd-probe single-file build (tools/build_pyz.py); run: python3 librbd-probe.pyz --help
import sys
if sys.version_info < (3, 6):
    sys.stderr.write("librbd-probe: error: needs Python >= 3.6, this is %s\\n" % sys.version.split()[0])
    sys.exit(2)
from librbd_probe.cli import main
sys.exit(main())
'''


def package_files(repo=REPO):
    """Archive names of the package's files, sorted: ``librbd_probe/...py`` and ``...json``
    (``build`` adds the knowledge files' compiled forms)."""
    names = []
    top = os.path.join(repo, PACKAGE)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        is_package = "__init__.py" in filenames
        for filename in filenames:
            if filename.startswith("."):
                continue
            # modules of (sub)packages; data files (package_data "data/*.json") anywhere below
            if (filename.endswith(".py") and is_package) or filename.endswith(".json"):
                path = os.path.join(dirpath, filename)
                names.append(os.path.relpath(path, repo).replace(os.sep, "/"))
    return sorted(names)


# Run by --compile's interpreter on a staged copy: legacy-layout .pyc next to each .py (the
# only layout zipimport reads), unchecked-hash (PEP 552) so zipimport never compares them with
# the sources' zip time stamps.  Another interpreter finds a foreign magic number and falls
# back to the .py beside it.
_COMPILE = """\
import os, py_compile, sys
root = sys.argv[1]
for dirpath, dirnames, filenames in os.walk(root):
    for name in filenames:
        if name.endswith(".py"):
            src = os.path.join(dirpath, name)
            rel = os.path.relpath(src, root).replace(os.sep, "/")
            py_compile.compile(src, cfile=src + "c", dfile=rel, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
"""


def _compiled(entries, python):
    """(name, bytes) of the .pyc ``python`` makes of each .py entry."""
    import shutil
    import subprocess
    import tempfile
    stage = tempfile.mkdtemp(prefix="build_pyz.")
    try:
        for name, data in entries:
            if name.endswith(".py"):
                path = os.path.join(stage, *name.split("/"))
                if not os.path.isdir(os.path.dirname(path)):
                    os.makedirs(os.path.dirname(path))
                with open(path, "wb") as handle:
                    handle.write(data)
        proc = subprocess.run([python, "-I", "-c", _COMPILE, stage], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise SystemExit("build_pyz: --compile {} failed (needs Python >= 3.7): {}".format(python, tail[0]))
        out = []
        for name, _ in entries:
            if name.endswith(".py"):
                with open(os.path.join(stage, *name.split("/")) + "c", "rb") as handle:
                    out.append((name + "c", handle.read()))
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _compiled_knowledge(entries, repo):
    """(name, bytes) of the knowledge files' compiled forms, as setup.py's build_py writes them
    (knowledge.compile_data: an installed package and the archive ship the same files)."""
    sys.path.insert(0, repo)
    try:
        from librbd_probe import knowledge
    finally:
        sys.path.remove(repo)
    data = PACKAGE + "/knowledge/data/"
    by_name = {name[len(data):]: blob for name, blob in entries if name.startswith(data) and "/" not in name[len(data):]}
    return [(data + name + knowledge.COMPILED_SUFFIX, knowledge.compiled_bytes(by_name[name], name))
            for name in knowledge.compiled_names(by_name)]


def build(output, interpreter="/usr/bin/env python3", repo=REPO, compressed=True, epoch=None, compile_with=None):
    """Write the archive to ``output``; return the list of archive names.

    ``compile_with``: an interpreter (>= 3.7) whose bytecode is added beside the sources, for
    the fleet's usual Python: it then starts without compiling the package on every run."""
    if epoch is None:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))
    stamp = time.gmtime(max(epoch, DEFAULT_EPOCH))[:6]
    names = package_files(repo)
    if PACKAGE + "/__init__.py" not in names:
        raise SystemExit("build_pyz: no {}/__init__.py under {}".format(PACKAGE, repo))
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        entries = [("__main__.py", MAIN.encode("utf-8"))]
        for name in names:
            with open(os.path.join(repo, *name.split("/")), "rb") as handle:
                entries.append((name, handle.read()))
        entries = sorted(entries + _compiled_knowledge(entries, repo))
        entries.sort(key=lambda e: e[0] != "__main__.py")
        if compile_with:
            entries = sorted(entries + _compiled(entries, compile_with))
            entries.sort(key=lambda e: e[0] != "__main__.py")
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            info.create_system = 3          # Unix, whatever the build host
            archive.writestr(info, data)
    buffer.seek(0)
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        os.makedirs(directory)
    temp = output + ".tmp"
    zipapp.create_archive(buffer, temp, interpreter=interpreter)
    os.chmod(temp, 0o755)
    os.replace(temp, output)
    return [name for name, _ in entries]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="build_pyz.py", description="Build librbd-probe.pyz (stdlib zipapp).")
    parser.add_argument("-o", "--output", default=os.path.join(REPO, "dist", "librbd-probe.pyz"),
                        help="archive to write (default: dist/librbd-probe.pyz)")
    parser.add_argument("--python", default="/usr/bin/env python3", metavar="INTERPRETER",
                        help="shebang interpreter (default: %(default)s)")
    parser.add_argument("--stored", action="store_true", help="do not compress (larger, no zlib needed)")
    parser.add_argument("--compile", metavar="PYTHON", dest="compile_with",
                        help="also ship bytecode of this interpreter (>= 3.7; others use the sources)")
    args = parser.parse_args(argv)
    names = build(args.output, interpreter=args.python, compressed=not args.stored,
                  compile_with=args.compile_with)
    sys.stdout.write("{}: {} files, {} bytes\n".format(args.output, len(names), os.path.getsize(args.output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
