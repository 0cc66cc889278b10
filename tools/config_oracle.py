#!/usr/bin/env python3
"""Ask a real librados how it parses ceph.conf values: the oracle of config.parse_option.

For every row of ``librbd_probe/knowledge/data/config_parsing.json`` ("oracle" -> rows of
(option, input)) a child interpreter loads librados.so.2 with ctypes and, on a fresh handle
each time (never rados_connect), calls rados_create + rados_conf_set(option, input) +
rados_conf_get(option): ``accepted`` is rc == 0, ``stored`` what librados answers afterwards
(for a rejected value: the value it kept, the default).  For every "file_rows" entry (a whole
ceph.conf) a child per file calls rados_conf_read_file: "ok" (with the rbd_default_data_pool
read), "rejected" (rc < 0: nothing of the file applies) or "aborts" (the child died of a
signal: librados 16.2.15 asserts on a non-ASCII byte outside quotes and comments).

Usage:
  python3 tools/config_oracle.py [--librados PATH] [--release 16.2.15] [--write | --check]
Without --write/--check it prints the answers as JSON.  --write stores them as the verified
rows of that release (canonical JSON); --check exits 1 when the library disagrees with the file.
A corpus build is loaded with LD_LIBRARY_PATH set to its own directories; builds whose
dependencies are not installed here fail to load and are reported as such (never guessed).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "librbd_probe", "knowledge", "data", "config_parsing.json")

CHILD = r'''
import ctypes, json, sys
rows = json.loads(sys.stdin.read())
lib = ctypes.CDLL(sys.argv[1])
h_t = ctypes.c_void_p
lib.rados_create.argtypes = [ctypes.POINTER(h_t), ctypes.c_char_p]
lib.rados_create.restype = ctypes.c_int
lib.rados_conf_set.argtypes = [h_t, ctypes.c_char_p, ctypes.c_char_p]
lib.rados_conf_set.restype = ctypes.c_int
lib.rados_conf_get.argtypes = [h_t, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
lib.rados_conf_get.restype = ctypes.c_int
lib.rados_shutdown.argtypes = [h_t]
lib.rados_shutdown.restype = None
out = []
for option, text in rows:
    handle = h_t()
    rc = lib.rados_create(ctypes.byref(handle), None)
    if rc < 0:
        out.append({"error": "rados_create %d" % rc}); continue
    set_rc = lib.rados_conf_set(handle, option.encode(), text.encode("utf-8", "surrogateescape"))
    buf = ctypes.create_string_buffer(65536)
    get_rc = lib.rados_conf_get(handle, option.encode(), buf, len(buf))
    out.append({"set_rc": set_rc, "get_rc": get_rc, "stored": buf.value.decode("utf-8", "replace")})
    lib.rados_shutdown(handle)
sys.stdout.write(json.dumps(out))
'''


# A fresh librados handle (rados_create, never rados_connect): the start of the children below.
_HANDLE = r'''
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
h_t = ctypes.c_void_p
lib.rados_create.argtypes = [ctypes.POINTER(h_t), ctypes.c_char_p]
lib.rados_conf_read_file.argtypes = [h_t, ctypes.c_char_p]
lib.rados_conf_get.argtypes = [h_t, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
handle = h_t()
lib.rados_create(ctypes.byref(handle), None)
'''

#: rados_conf_read_file(argv[2], or NULL: librados's own search), then the value of
#: rbd_default_data_pool: "RC VALUE"
FILE_CHILD = _HANDLE + r'''
rc = lib.rados_conf_read_file(handle, sys.argv[2].encode() if len(sys.argv) > 2 else None)
buf = ctypes.create_string_buffer(65536)
lib.rados_conf_get(handle, b"rbd_default_data_pool", buf, len(buf))
sys.stdout.write("%d %s" % (rc, buf.value.decode("utf-8", "replace")))
'''

def file_answers(librados, rows, timeout=30):
    """Per file row (its ``text``, bytes as latin-1 escapes): what rados_conf_read_file of that
    file does -- "ok" with the rbd_default_data_pool it then holds, "rejected" (rc < 0) or
    "aborts" (the child dies of a signal) -- one child per row."""
    import tempfile
    env = dict(os.environ)
    real = librados
    if "/" in librados:
        real = os.path.realpath(librados)
        libdir = os.path.dirname(real)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, os.path.join(libdir, "ceph"), env.get("LD_LIBRARY_PATH"))
                                          if p)
    out = []
    for row in rows:
        with tempfile.NamedTemporaryFile("wb", suffix=".conf", delete=False) as handle:
            handle.write(row["text"].encode("latin-1"))
            name = handle.name
        try:
            proc = subprocess.Popen([sys.executable, "-E", "-s", "-c", FILE_CHILD, real, name], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            os.unlink(name)
        entry = {"text": row["text"]}
        if proc.returncode < 0:
            entry["status"] = "aborts"
        elif proc.returncode != 0:
            raise RuntimeError("{} does not load here: {}".format(librados, stderr.decode("utf-8", "replace")[-300:]))
        else:
            rc, _, pool = stdout.decode("utf-8", "replace").partition(" ")
            entry["status"] = "ok" if int(rc) == 0 else "rejected"
            if entry["status"] == "ok":
                entry["pool"] = pool
        out.append(entry)
    return out


KIND_CHILD = _HANDLE + r'''
sys.stdout.write(str(lib.rados_conf_read_file(handle, sys.argv[2].encode())))
'''

def kind_answers(librados, timeout=5):
    """What rados_conf_read_file does with a ceph.conf that is not a regular file: its return
    code, or "blocks" when it has not returned after ``timeout`` seconds (then killed)."""
    import shutil
    import socket
    import tempfile
    scratch = tempfile.mkdtemp(prefix="config-oracle-")
    out = {}
    sock = socket.socket(socket.AF_UNIX)
    try:
        fifo = os.path.join(scratch, "fifo.conf")
        os.mkfifo(fifo)
        sock_path = os.path.join(scratch, "sock.conf")
        sock.bind(sock_path)
        big = os.path.join(scratch, "big.conf")          # over safeio.LIMITS["ceph.conf"] (16 MiB)
        with open(big, "w") as handle:
            handle.write("[global]\n")
            line = "# " + "x" * 97 + "\n"
            handle.write(line * ((17 << 20) // len(line)))
        for kind, path in (("FIFO", fifo), ("character device", "/dev/zero"), ("directory", scratch),
                           ("socket", sock_path), ("17 MiB regular file", big)):
            proc = subprocess.Popen([sys.executable, "-E", "-s", "-c", KIND_CHILD, librados, path],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                stdout, _ = proc.communicate(timeout=timeout)
                out[kind] = int(stdout.decode() or "0")
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                out[kind] = "blocks"
    finally:
        sock.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return out


#: Where a client's ceph.conf path can come from, and how the oracle child is given it; the
#: last is asked of the real ceph-conf command (global_init, as rbd, ceph and rados start).
SOURCES = ("rados_conf_read_file(path)", "CEPH_CONF", "CEPH_ARGS -c", "ceph-conf, CEPH_ARGS -c")


def _ceph_conf_answer(stdout, stderr, returncode):
    """ceph-conf --lookup rbd_default_data_pool: "read" (the marker), -2 (global_init could not
    open the file), or 0 (it read the file and found nothing: an empty configuration)."""
    if returncode == 0 and stdout.strip() == b"oracle-marker":
        return "read"
    if b"unable to open config file" in stderr or b"did not load config file" in stderr:
        return -2
    return 0


def source_answers(librados, timeout=5):
    """Per source of the path (SOURCES) and kind of file: what librados does -- "read" (a
    regular file whose rbd_default_data_pool it then holds), rados_conf_read_file's return code,
    or "blocks".  CEPH_CONF and CEPH_ARGS are asked with rados_conf_read_file(NULL) (librados's
    own search) in a scratch HOME and working directory, CEPH_CONF unset for the others; the
    ceph-conf row (when the command is installed) with ``ceph-conf --lookup``
    (``_ceph_conf_answer``)."""
    import shutil
    import tempfile
    scratch = tempfile.mkdtemp(prefix="config-oracle-")
    out = {}
    try:
        fifo = os.path.join(scratch, "fifo.conf")
        os.mkfifo(fifo)
        regular = os.path.join(scratch, "regular.conf")
        with open(regular, "w") as handle:
            handle.write("[global]\nrbd default data pool = oracle-marker\n")
        for source in SOURCES:
            if source.startswith("ceph-conf") and not shutil.which("ceph-conf"):
                continue
            answers_here = out.setdefault(source, {})
            # a list "A,B" (librados takes one): does the search stop at A, or pass over it to B?
            for kind, path in (("null device", os.devnull), ("FIFO", fifo), ("character device", "/dev/zero"),
                               ("regular file", regular), ("missing file", os.path.join(scratch, "none.conf")),
                               ("character device, then a regular file", "/dev/zero," + regular),
                               ("directory, then a regular file", scratch + "," + regular)):
                env = {k: v for k, v in os.environ.items() if k not in ("CEPH_CONF", "CEPH_ARGS")}
                env["HOME"] = scratch
                argv = [sys.executable, "-E", "-s", "-c", FILE_CHILD, librados]
                if source == "CEPH_CONF":
                    env["CEPH_CONF"] = path
                elif source.endswith("CEPH_ARGS -c"):
                    env["CEPH_ARGS"] = "-c " + path
                else:
                    argv.append(path)
                if source.startswith("ceph-conf"):
                    argv = ["ceph-conf", "--lookup", "rbd_default_data_pool"]
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=scratch)
                try:
                    stdout, stderr = proc.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                    answers_here[kind] = "blocks"
                    continue
                if source.startswith("ceph-conf"):
                    answers_here[kind] = _ceph_conf_answer(stdout, stderr, proc.returncode)
                    continue
                rc, _, pool = stdout.decode("utf-8", "replace").partition(" ")
                answers_here[kind] = "read" if rc == "0" and pool == "oracle-marker" else int(rc)
        out["CEPH_CONF search"] = _search_answers(librados, scratch, regular, timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


#: CEPH_CONF values (M: a missing file, R: the regular file) asked of librados's own search, with
#: a ceph.conf in the working directory: is CEPH_CONF a list, and are the defaults searched after it?
SEARCH_ROWS = ("unset", "", "M", "M,R", "M;R", "M, R", "M R")


def _search_answers(librados, scratch, regular, timeout):
    """Per SEARCH_ROWS value: "read" (R's marker), "current directory" (./ceph.conf's), or the
    return code of rados_conf_read_file(NULL)."""
    cwd = os.path.join(scratch, "cwd")
    os.mkdir(cwd)
    with open(os.path.join(cwd, "ceph.conf"), "w") as handle:
        handle.write("[global]\nrbd default data pool = cwd-marker\n")
    answers_here = {}
    for row in SEARCH_ROWS:
        env = {k: v for k, v in os.environ.items() if k not in ("CEPH_CONF", "CEPH_ARGS")}
        env["HOME"] = scratch
        if row != "unset":
            env["CEPH_CONF"] = row.replace("M", os.path.join(scratch, "none.conf")).replace("R", regular)
        proc = subprocess.Popen([sys.executable, "-E", "-s", "-c", FILE_CHILD, librados], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd)
        stdout, _ = proc.communicate(timeout=timeout)
        rc, _, pool = stdout.decode("utf-8", "replace").partition(" ")
        answers_here[row] = {"oracle-marker": "read", "cwd-marker": "current directory"}.get(pool, int(rc))
    return answers_here


def row_input(row):
    return row["input"] * row.get("repeat", 1)


def ask(librados, rows, timeout=120):
    """[{"set_rc", "get_rc", "stored"}] from the real library, or raise RuntimeError."""
    env = dict(os.environ)
    real = librados
    if "/" in librados:                  # a file (a corpus build): its own directories first
        real = os.path.realpath(librados)
        libdir = os.path.dirname(real)
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, os.path.join(libdir, "ceph"), env.get("LD_LIBRARY_PATH"))
                                          if p)
    proc = subprocess.Popen([sys.executable, "-E", "-s", "-c", CHILD, real], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate(json.dumps([[r["option"], row_input(r)] for r in rows]).encode(), timeout=timeout)
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["exit {}".format(proc.returncode)])[-1]
        raise RuntimeError("{} does not load here: {}".format(librados, last))
    return json.loads(out.decode())


def answers(librados, rows):
    """The rows with ``accepted`` and ``stored`` as this library gives them."""
    result = []
    for row, got in zip(rows, ask(librados, rows)):
        entry = {k: v for k, v in row.items() if k in ("option", "input", "repeat")}
        entry["accepted"] = got["set_rc"] == 0
        entry["stored"] = got["stored"]
        result.append(entry)
    return result


def derive(rows):
    """What the rows establish, in the form config.parse_option asks: per option the value kept
    when a value is rejected (the default), and for rbd_default_features the names accepted
    (with their bits), the bits accepted as a number, the value of an empty setting."""
    out = {"kept_on_reject": {}, "features": {"names": {}, "numeric_bits": 0}}
    for row in rows:
        option, text = row["option"], row["input"] * row.get("repeat", 1)
        if not row["accepted"]:
            out["kept_on_reject"].setdefault(option, row["stored"])
        if option != "rbd_default_features" or not row["accepted"]:
            continue
        if text == "":
            out["features"]["empty"] = int(row["stored"])
        elif text.isdigit() and len(text) < 20 and int(text) and not int(text) & (int(text) - 1):
            out["features"]["numeric_bits"] |= int(text)
        elif text.replace("-", "").isalpha():
            out["features"]["names"][text] = int(row["stored"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--librados", default="librados.so.2")
    parser.add_argument("--release", default="16.2.15")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    with open(DATA) as handle:
        doc = json.load(handle)
    verified = doc["oracle"]["verified"]
    rows = doc["oracle"]["rows"]
    got = answers(args.librados, rows)
    if args.check:
        stored = verified.get(args.release, {}).get("rows")
        files = file_answers(args.librados, doc["oracle"]["file_rows"])
        if (stored != got or verified[args.release].get("derived") != derive(got)
                or verified[args.release].get("file_rows") != files
                or verified[args.release].get("file_kinds") != kind_answers(args.librados)
                or verified[args.release].get("conf_sources") != source_answers(args.librados)):
            for want, have in zip(stored or [], got):
                if want != have:
                    print("differs: {!r} stored {!r}".format(have, want))
            return 1
        print("{} rows, {} files and {} file kinds agree with {}".format(
            len(got), len(files), len(verified[args.release]["file_kinds"]), args.librados))
        return 0
    if args.write:
        entry = verified.setdefault(args.release, {})
        entry["rows"] = got
        entry["derived"] = derive(got)
        entry["file_rows"] = file_answers(args.librados, doc["oracle"]["file_rows"])
        entry["file_kinds"] = kind_answers(args.librados)
        entry["conf_sources"] = source_answers(args.librados)
        with open(DATA, "w") as handle:
            handle.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    print(json.dumps(got, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
