"""Build stub shared libraries with ``cc`` at test time (sources in tests/stubs/).

Stubs are cached by content hash under the temp dir, so a test session compiles each once.
Hostile stubs are only ever loaded in child processes, never in the pytest process.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.path.join(HERE, "stubs")
DATA = os.path.join(os.path.dirname(HERE), "librbd_probe", "knowledge", "data")
HOSTILE_KINDS = {"segfault-ctor": "HOSTILE_SEGFAULT_CTOR", "hang-ctor": "HOSTILE_HANG_CTOR",
                 "stdout-exit0": "HOSTILE_STDOUT_EXIT0", "crash-in-version": "HOSTILE_CRASH_VERSION"}


def stub_cache_dir():
    path = os.path.join(tempfile.gettempdir(), "librbd_probe_stubs_{}".format(os.getuid()))
    os.makedirs(path, exist_ok=True)
    return path


def _cc():
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if not compiler:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler (cc) to build stub libraries")
        pytest.skip("no C compiler (cc) to build stub libraries")
    return compiler


def build_library(dest_dir, soname, sources, needed=(), runpath=None, defines=()):
    """Compile ``sources`` ({file name: C text}) into dest_dir/soname; return its path."""
    os.makedirs(dest_dir, exist_ok=True)
    paths = []
    for name, text in sorted(sources.items()):
        path = os.path.join(dest_dir, name)
        with open(path, "w") as handle:
            handle.write(text)
        paths.append(path)
    out = os.path.join(dest_dir, soname)
    argv = [_cc(), "-shared", "-fPIC", "-O0", "-g0", "-o", out, "-Wl,-soname," + soname]
    argv += ["-D" + d for d in defines] + paths
    for lib in needed:
        argv += ["-L" + os.path.dirname(lib), "-l:" + os.path.basename(lib)]
    if runpath:
        argv += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + runpath]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("cc failed for {}: {}".format(soname, proc.stderr.strip()[-2000:]))
    return out


def _cached(key_parts, build):
    digest = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:16]
    dest = os.path.join(stub_cache_dir(), digest)
    marker = os.path.join(dest, "DONE")
    if not os.path.exists(marker):
        tmp = dest + ".tmp{}".format(os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        result = build(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
        with open(marker, "w") as handle:
            json.dump([os.path.relpath(p, tmp) for p in result], handle)
    with open(marker) as handle:
        return tuple(os.path.join(dest, p) for p in json.load(handle))


def _read(name):
    with open(os.path.join(STUBS, name)) as handle:
        return handle.read()


def build_hostile(kind):
    """(librbd, librados) where librbd misbehaves as ``kind`` (see tests/stubs/hostile.c)."""
    macro = HOSTILE_KINDS[kind]
    hostile, rados = _read("hostile.c"), _read("librados_stub.c")

    def build(dest):
        librados = build_library(dest, "librados.so.2", {"librados_stub.c": rados},
                                 defines=("RADOS_MAJOR=3", "RADOS_MINOR=0", "RADOS_EXTRA=0"))
        librbd = build_library(dest, "librbd.so.1", {"hostile.c": hostile}, needed=(librados,),
                               runpath="$ORIGIN", defines=(macro,))
        return [librbd, librados]

    return _cached(["hostile", kind, hostile, rados], build)


def _load(name):
    with open(os.path.join(DATA, name)) as handle:
        return json.load(handle)



def _vkey(text):
    """Upstream order, written here independently of librbd_probe (the stand-ins are an oracle)."""
    import re
    match = re.match(r"(\d+(?:\.\d+)*)", str(text))
    return tuple(int(p) for p in match.group(1).split(".")) if match else (-1,)


def _series(key):
    return key[:2] if key[0] == 0 else key[:1]


def _present(entry, version):
    key = _vkey(version)
    if entry.get("removed") and key >= _vkey(entry["removed"]):
        return False
    if key >= _vkey(entry["first"]):
        return True
    return any(_series(_vkey(b)) == _series(key) and key >= _vkey(b) for b in entry.get("backports") or ())


def functions_of(library, version):
    """The C functions release ``version`` has, per the data files (read here, not via the package)."""
    doc = _load("{}_symbols.json".format(library))
    return sorted(name for name, entry in doc["symbols"].items() if _present(entry, version))


def release_entry(version):
    """The releases.json entry ``version`` belongs to: exact, else the newest verified entry of
    its series not newer than it (a stand-in for 15.2.7 takes 15.2.5's facts)."""
    entries = _load("releases.json")["releases"]
    for rel in entries:
        if rel["version"] == version:
            return rel
    key = _vkey(version)
    same = [r for r in entries if r.get("source_kind") != "unverified" and _vkey(r["version"]) <= key
            and _series(_vkey(r["version"])) == _series(key)]
    if not same:
        raise KeyError(version)
    return max(same, key=lambda r: _vkey(r["version"]))


def _value(rel, key, default=None):
    field = rel.get(key)
    return field.get("value", default) if isinstance(field, dict) and field.get("value") is not None else default


def _features_to_string_c(features_all):
    names = [f["name"] for f in sorted(_load("features.json")["features"], key=lambda f: f["bit"])]
    table = ", ".join('"{}"'.format(n) for n in names)
    # Semantics of the real 16.2.15 librbd (checked by tests/test_stubs.py against it):
    # unknown bit -> -EINVAL; buffer too small (or NULL) -> *size = needed, -ERANGE.
    return """
static const char *feature_names[] = {%s};
int rbd_features_to_string(uint64_t features, char *str, size_t *size)
{
    char out[512] = "";
    if (features & ~(uint64_t)%dULL)
        return -22;
    for (unsigned bit = 0; bit < sizeof(feature_names) / sizeof(feature_names[0]); bit++) {
        if (features & (1ULL << bit)) {
            if (out[0])
                strcat(out, ",");
            strcat(out, feature_names[bit]);
        }
    }
    if (!str || *size < strlen(out) + 1) {
        *size = strlen(out) + 1;
        return -34;
    }
    strcpy(str, out);
    return 0;
}
""" % (table, features_all)


def build_release_standin(version):
    """(librbd, librados) standing for Ceph ``version``: its C functions and version triples.

    Every function the knowledge base lists for that release is exported (returning
    -ENOSYS); rbd_version/rados_version answer the release's LIBRBD_VER_*/LIBRADOS_VER_*;
    librados reads rbd default features/format from a ceph.conf, defaulting to the
    release's own defaults.
    """
    rel = release_entry(version)
    rbd_triple = _value(rel, "rbd_version")
    rados_triple = _value(rel, "rados_version")
    if rbd_triple is None or rados_triple is None:
        raise KeyError("{}: the knowledge base has no version triples for it".format(version))
    features_all = _value(rel, "rbd_features_all", 0)
    default_features = _value(rel, "default_features", 0)
    default_format = _value(rel, "default_format", 1)
    rbd_funcs = functions_of("librbd", version)
    rados_funcs = functions_of("librados", version)
    implemented_rbd = {"rbd_version", "rbd_features_to_string"}
    implemented_rados = {"rados_version", "rados_create", "rados_conf_read_file", "rados_conf_parse_env",
                         "rados_conf_get", "rados_shutdown"}
    header = "/* Stand-in for Ceph {} ({}): functions and versions from librbd_probe/knowledge/data, i.e. {} */\n".format(
        version, rel.get("codename"), rel.get("ref") or rel.get("tag"))
    rbd_c = header + "#include <stdint.h>\n#include <string.h>\n"
    rbd_c += "void rbd_version(int *a, int *b, int *c) {{ *a = {}; *b = {}; *c = {}; }}\n".format(*rbd_triple)
    for name in rbd_funcs:
        if name not in implemented_rbd:
            rbd_c += "int {}(void) {{ return -38; }}\n".format(name)
    if "rbd_features_to_string" in rbd_funcs:
        rbd_c += _features_to_string_c(features_all)
    rados_c = header + "".join("int {}(void) {{ return -38; }}\n".format(n) for n in rados_funcs
                               if n not in implemented_rados)
    stub = _read("librados_stub.c")
    defines = ("RADOS_MAJOR={}".format(rados_triple[0]), "RADOS_MINOR={}".format(rados_triple[1]),
               "RADOS_EXTRA={}".format(rados_triple[2]), 'DEFAULT_FEATURES="{}"'.format(default_features),
               'DEFAULT_FORMAT="{}"'.format(default_format))

    def build(dest):
        librados = build_library(dest, "librados.so.2", {"librados_stub.c": stub, "librados_gen.c": rados_c},
                                 defines=defines)
        librbd = build_library(dest, "librbd.so.1", {"librbd_gen.c": rbd_c}, needed=(librados,), runpath="$ORIGIN")
        return [librbd, librados]

    return _cached(["standin", version, rbd_c, rados_c, stub, defines], build)
