#!/usr/bin/env python3
"""The project's own fuzzing (issue 13, item 6): every parser of hostile input, with its contract.

Targets (each states the exceptions its contract allows; anything else is a finding):

    elf       elf.read_elf / read_relocations / sweep_dynamic on a tmpfs file   -> ElfError
    ldcache   locate.parse_ld_so_cache / LdCache(data).lookup                   -> ElfError, LdCacheError
    ldconf    locate.parse_ld_so_conf, includes served from a dict, and the real
              include reader (locate._read_conf_dirs) on the same files in a tmpfs root -> nothing
    cephconf  config.parse_ceph_conf + config.analyse                           -> nothing
    keyring   config.parse_keyring                                              -> nothing
    explain   explain.explain(report of this host, text)                        -> nothing
    report    snapshot.from_path / fleet.load_inputs on a tmpfs file            -> UsageError, InputError,
                                                                                   SnapshotError

Bounds per input: 100 ms of CPU time (time.process_time around the call: the machine is shared
and the campaign runs under nice, so wall time measures the neighbours; wall time is reported
too; a slow input is run three more times and is a finding when the fastest run is still over
the bound) and 64 MiB (growth of the
worker's peak RSS, ru_maxrss; the worker runs under RLIMIT_AS so a runaway allocation is a
MemoryError finding, not a dead machine); a watchdog (signal.setitimer) turns a hang into a
finding after 2 s of CPU or 10 s of wall time.  Every input message must be one line.

Engines: the stdlib mutator (default; no PyPI package needed) and atheris (coverage-guided,
``--engine atheris`` from an interpreter that has atheris installed).

    python3 tools/fuzz.py --target elf --runs 20000 --seed 1
    nice -n 10 python3 tools/fuzz.py --target all --runs 1000000 --json /tmp/fuzz.json --save
    python3 tools/fuzz.py --replay tests/data/fuzz/crashes/ldcache      # check saved inputs
    python3 tools/fuzz.py --make-seeds                                 # rebuild seeds from real files

Inputs are produced by index: input ``i`` of seed ``S`` is the same bytes on every run, so a
worker that dies is replaced and the input that killed it is regenerated from its index.
"""
import argparse
import fnmatch
import hashlib
import json
import mmap
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DATA = os.path.join(ROOT, "tests", "data", "fuzz")
SEEDS = os.path.join(DATA, "seeds")
CRASHES = os.path.join(DATA, "crashes")
BRIEFS = "/work/briefs/s15"

TIME_BOUND = 0.100              # seconds per input
MEM_BOUND = 64 << 20            # bytes per input
HANG = 2.0                      # watchdog: a hang is a finding after 2 s of CPU time ...
HANG_WALL = 10.0                # ... or 10 s of wall time (a blocking open, a sleep)
AS_MARGIN = 192 << 20           # RLIMIT_AS = the worker's address space at start + this
MAX_LEN = 1 << 20               # inputs are capped at ~1 MiB (the contracts' size)
CHUNK = 5000                    # inputs per forked worker

OWNERS = {"elf": "h13b", "ldcache": "h13a", "ldconf": "h13a", "cephconf": "h13c", "keyring": "h13c",
          "explain": "h13d", "report": "h13d"}


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so `except Exception` in a target cannot eat it."""


def _on_alarm(signum, frame):
    raise Hang("no answer after {:.0f} s of wall time".format(HANG_WALL))


def _on_prof(signum, frame):
    raise Hang("no answer after {:.0f} s of CPU time".format(HANG))


def install_watchdog():
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPROF, _on_prof)


def _arm(on):
    signal.setitimer(signal.ITIMER_REAL, HANG_WALL if on else 0)
    signal.setitimer(signal.ITIMER_PROF, HANG if on else 0)


def shm_dir():
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else "/tmp"
    path = os.path.join(base, "librbd-probe-fuzz-{}".format(os.getpid()))
    if not os.path.isdir(path):
        os.mkdir(path)
        owner = os.getpid()
        import atexit
        # removed by the process that made it (forked workers leave with os._exit)
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    return path


# --- targets -------------------------------------------------------------------------------
class Target(object):
    name = None
    kind = "text"                # "binary" or "text": which mutations apply
    tokens = ()                  # dictionary of the format's keywords
    contract = "never raises"

    def setup(self):
        """Imports and one-time state; runs once in the parent before workers fork."""

    def allowed(self):
        return ()

    def run(self, data):
        raise NotImplementedError

    def fields(self, data):
        """(offset, size, endian) of header fields where interesting integers are written."""
        return ()

    def skip_reason(self):
        return None


def _lines(data):
    return data.decode("utf-8", "replace").splitlines(True)


class ElfTarget(Target):
    name, kind = "elf", "binary"
    contract = "ElfError only"

    def setup(self):
        from librbd_probe import elf, errors
        self.elf, self.errors = elf, errors
        self.path = os.path.join(shm_dir(), "input.so")
        self.markers = (b"ceph_ver__", b"rbd_", b"rados_")

    def allowed(self):
        return (self.errors.ElfError,)

    def run(self, data):
        with open(self.path, "wb") as handle:
            handle.write(data)
        elf = self.elf
        try:
            elf.read_elf(self.path)
        finally:
            try:
                elf.read_relocations(self.path)
            finally:
                elf.sweep_dynamic(self.path, self.markers)

    def fields(self, data):
        return elf_fields(data)


class LdCacheTarget(Target):
    name, kind = "ldcache", "binary"
    contract = "ElfError or LdCacheError only"
    tokens = (b"glibc-ld.so.cache1.1", b"ld.so-1.7.0", b"librbd.so.1", b"librados.so.2", b"\0",
              b"/usr/lib/x86_64-linux-gnu/librbd.so.1")

    def setup(self):
        from librbd_probe import errors, locate
        self.locate, self.errors = locate, errors

    def allowed(self):
        extra = getattr(self.locate, "LdCacheError", None)
        return (self.errors.ElfError,) + ((extra,) if extra else ())

    def run(self, data):
        data = bytes(data)
        try:
            self.locate.parse_ld_so_cache(data)
        finally:
            cache = self.locate.LdCache(data)
            cache.lookup("librbd.so.1")
            cache.lookup("librados.so.2")

    def fields(self, data):
        return ldcache_fields(data)


FILE_MARK = b"\n=== "        # ldconf inputs: main file, then "=== /etc/ld.so.conf.d/x.conf\n<text>" parts


class LdConfTarget(Target):
    name = "ldconf"
    tokens = (b"include ", b"include\t", b"/etc/ld.so.conf.d/*.conf", b"*.conf", b"ld.so.conf.d/*",
              b"hwcap ", b"/usr/lib", b"/usr/local/lib", b"#", b":", b",", b"\t", b"*", b"?", b"[", b"]",
              b"=== /etc/ld.so.conf.d/a.conf\n", b"=== /etc/ld.so.conf.d/b.conf\n", b"include /etc/ld.so.conf\n",
              b"../", b"//", b"\0")

    def setup(self):
        from librbd_probe import locate, rootfs
        self.locate = locate
        # the real include reader (locate._read_conf_dirs: files read through safeio inside a
        # Root) on the same files written into a tmpfs root, when this version has it
        self.reader = getattr(locate, "_read_conf_dirs", None)
        self.root_dir = os.path.join(shm_dir(), "ldconf-root")
        self.rootfs = rootfs

    def _write_root(self, files):
        etc = os.path.join(self.root_dir, "etc")
        confd = os.path.join(etc, "ld.so.conf.d")
        if not os.path.isdir(confd):
            os.makedirs(confd)
        for directory in (etc, confd):
            for entry in os.listdir(directory):
                if entry != "ld.so.conf.d":
                    os.unlink(os.path.join(directory, entry))
        for name, body in list(files.items())[:16]:
            base = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(name))[:64].lstrip(".") or "x.conf"
            where = etc if name == "/etc/ld.so.conf" else os.path.join(
                etc, "ld.so.conf.d" if "ld.so.conf.d" in name else "")
            with open(os.path.join(where, base if name != "/etc/ld.so.conf" else "ld.so.conf"), "wb") as handle:
                handle.write(body)

    def run(self, data):
        parts = data.split(FILE_MARK)
        files = {"/etc/ld.so.conf": parts[0]}
        for part in parts[1:]:
            name, _, body = part.partition(b"\n")
            files[name.decode("utf-8", "replace").strip()] = body
        if self.reader is not None:
            self._write_root(files)
            self.reader(self.rootfs.Root(self.root_dir))
        parse = self.locate.parse_ld_so_conf
        parsed = set()

        def resolver(pattern):
            # as locate's reader does: a relative pattern is taken from /etc; each file is read
            # at most once per top-level parse (the include graph may have cycles)
            if not pattern.startswith("/"):
                pattern = "/etc/" + pattern
            out = []
            for name in sorted(files):
                if name not in parsed and fnmatch.fnmatchcase(name, pattern):
                    parsed.add(name)
                    out.extend(parse(_lines(files[name]), resolver))
            return out

        parsed.add("/etc/ld.so.conf")
        parse(_lines(files["/etc/ld.so.conf"]), resolver)


CONF_TOKENS = (b"[global]\n", b"[client]\n", b"[client.admin]\n", b"[client.", b"]", b"=", b" = ", b";", b"#",
               b"\\\n", b"\"", b"'", b"$", b"${", b"$key", b"$cluster", b"$name", b"$id",
               b"rbd default features", b"rbd_default_features", b"rbd default format", b"rbd default order",
               b"rbd default stripe unit", b"rbd default stripe count", b"rbd default data pool",
               b"rbd_default_map_options", b"rbd cache", b"key", b"keyring", b"mon host",
               b"layering", b"exclusive-lock", b"object-map", b"fast-diff", b"deep-flatten", b"journaling",
               b"data-pool", b"operations", b"migrating", b"non-primary", b"striping", b",",
               b"0x", b"061", b"0", b"-1", b"1", b"2", b"63", b"4294967295", b"18446744073709551616",
               b"9" * 5000, b"1K", b"4M", b"1G", b"true", b"false", b"yes", b"no", b"on", b"off",
               b"AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A==", b"\t", b"\0", b"\r", b"\xe2\x80\xa8")


class CephConfTarget(Target):
    name = "cephconf"
    tokens = CONF_TOKENS

    def setup(self):
        from librbd_probe import config
        self.config = config
        report = host_report()
        self.facts = report.release.facts if report is not None and report.release else None
        check = report.runtime.features_check if report is not None and report.runtime else None
        self.known = config.library_known_mask(check)
        self.orders = (config.section_order(), config.section_order("fuzz"), config.section_order(None, "client.x"))

    def run(self, data):
        # as config.configuration does: the file as read_conf keeps it, analysed for the
        # identified release (static: values as written; runtime: raw values judged) and for
        # none; the whole file's sections for two other clients
        config = self.config
        lines = _lines(data)
        keep = getattr(config, "READ_KEYS", None)
        full = config.parse_ceph_conf(lines)
        kept = config.parse_ceph_conf(lines, keep=keep) if keep else full
        for sections, orders in ((kept, self.orders[:1]), (full, self.orders[1:])):
            for order in orders:
                values = {}
                for key in config.KEYS:
                    value = config.lookup(sections, key, order)
                    if value is not None:
                        values[key] = value
                config.analyse(values, self.facts, self.known)
                if keep:
                    config.analyse(values, None, raw=values)


class KeyringTarget(Target):
    name = "keyring"
    tokens = (b"[client.admin]\n", b"[client.", b"[mon.]\n", b"]", b"key = ", b"key=", b"caps mon = ",
              b"\"allow *\"", b"\"profile rbd\"", b"AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A==", b"AQ", b"==",
              b"=", b";", b"#", b"\t", b"\0", b"\\\n", b"\"", b"auid = 0\n")

    def setup(self):
        from librbd_probe import config
        self.config = config
        self.parse = getattr(config, "parse_keyring", None)

    def skip_reason(self):
        if self.parse is None:
            return "config.parse_keyring does not exist yet (helper h13c adds it; merge w13c to fuzz it)"
        return None

    def run(self, data):
        result = self.parse(_lines(data))
        if not isinstance(result, tuple):
            raise TypeError("parse_keyring returned {} (its contract: a tuple of (entity, key))".format(
                type(result).__name__))


class ExplainTarget(Target):
    name = "explain"
    tokens = (b"librbd: ", b"librados: ", b"error ", b"failed to ", b"(2) No such file or directory",
              b"(13) Permission denied", b"(95) Operation not supported", b"(38) Function not implemented",
              b"undefined symbol: ", b"rbd_", b"rados_", b"librbd.so.1", b"librados.so.2", b"version `",
              b"' not found (required by ", b"cannot open shared object file", b"OSError: ", b"Traceback",
              b"FunctionNotSupported", b"PermissionError", b"ImageNotFound", b"2026-12-01T22:00:00.000+0000 ",
              b"2026-12-01 22:00:00.000 7f00 -1 ", b"monclient(hunting): ", b"auth: ", b"\n", b"\r", b"\0",
              b"\x1b[31m", b"\xe2\x80\xa8", b"\xff", b"    ", b"features 0x", b"0x3d",
              b"\xed\xa0\x80", b"\xed\xbf\xbf")

    def setup(self):
        from librbd_probe import explain
        self.explain = explain.explain
        self.report = host_report()

    def skip_reason(self):
        return None if self.report is not None else "no report of this host could be built"

    def run(self, data):
        # a str as a caller could hand it: surrogatepass keeps an encoded lone surrogate
        # (b"\xed\xa0\x80" -> U+D800) when the rest is UTF-8; otherwise undecodable bytes are
        # escaped as the CLI's reader escapes them
        try:
            text = data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "surrogateescape")
        self.explain(self.report, text)


class ReportTarget(Target):
    name = "report"
    contract = "UsageError, InputError or SnapshotError only"
    tokens = (b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"true", b"false", b"0", b"-1", b"1e999",
              b"\"schema_version\": ", b"\"libraries\": ", b"\"capabilities\": ", b"\"problems\": ",
              b"\"release\": ", b"\"functions\": ", b"\"plays\": ", b"\"tasks\": ", b"\"hosts\": ",
              b"\"stdout\": ", b"\"collect_schema\": ", b"\"host\": ", b"\"librbd\": ", b"\"librados\": ",
              b"\"found\": ", b"\"status\": ", b"\"config\": ", b"\"live\": ", b"\"name\": ",
              b"\"librbd-probe scan\"", b"\\u0000", b"\\ud800", b"\\n", b"[[[[[[[[", b"\x7fELF")

    def setup(self):
        from librbd_probe import errors, fleet, snapshot
        self.snapshot, self.fleet, self.errors = snapshot, fleet, errors
        self.path = os.path.join(shm_dir(), "report.json")

    def allowed(self):
        e = self.errors
        return (e.UsageError, e.InputError, self.snapshot.SnapshotError)

    def run(self, data):
        with open(self.path, "wb") as handle:
            handle.write(data)
        try:
            self.snapshot.from_path(self.path)
        finally:
            self.fleet.load_inputs([self.path])


TARGETS = [ElfTarget, LdCacheTarget, LdConfTarget, CephConfTarget, KeyringTarget, ExplainTarget, ReportTarget]
TARGET_NAMES = [t.name for t in TARGETS]

_HOST_REPORT = []


def host_report():
    """A Report of this host (runtime scan, static when the child cannot run), built once."""
    if not _HOST_REPORT:
        from librbd_probe import scan
        report = None
        for runtime in (True, False):
            try:
                report = scan.scan(runtime=runtime)
                break
            except Exception:          # noqa: BLE001 - no report means the explain target is skipped
                report = None
        _HOST_REPORT.append(report)
    return _HOST_REPORT[0]


def make_target(name):
    for cls in TARGETS:
        if cls.name == name:
            target = cls()
            target.owner = OWNERS[name]
            return target
    raise SystemExit("fuzz.py: unknown target {!r} (one of {})".format(name, ", ".join(TARGET_NAMES)))


# --- header fields (where interesting integers are written) --------------------------------
def elf_fields(data):
    """(offset, size, endian) of the ELF header, program header, dynamic, section header and
    version/hash fields of ``data`` (as far as they can be followed)."""
    out = []
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return out
    is64 = data[4] == 2
    e = "<" if data[5] != 2 else ">"
    w = 8 if is64 else 4
    if is64:
        out += [(o, s, e) for o, s in ((16, 2), (18, 2), (20, 4), (24, 8), (32, 8), (40, 8), (48, 4), (52, 2),
                                       (54, 2), (56, 2), (58, 2), (60, 2), (62, 2))]
    else:
        out += [(o, s, e) for o, s in ((16, 2), (18, 2), (20, 4), (24, 4), (28, 4), (32, 4), (36, 4), (40, 2),
                                       (42, 2), (44, 2), (46, 2), (48, 2), (50, 2))]
    try:
        if is64:
            phoff, shoff = struct.unpack_from(e + "QQ", data, 32)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", data, 54)[0:4]
            shnum = struct.unpack_from(e + "H", data, 60)[0]
        else:
            phoff, shoff = struct.unpack_from(e + "II", data, 28)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 46)
    except struct.error:
        return out
    loads, dyn = [], None
    for i in range(min(phnum, 64)):
        base = phoff + i * phentsize
        if base + (56 if is64 else 32) > len(data):
            break
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(e + "IIQQQQ", data, base)
            out += [(base + o, s, e) for o, s in ((0, 4), (8, 8), (16, 8), (32, 8), (40, 8), (48, 8))]
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(e + "IIIII", data, base)
            out += [(base + o, 4, e) for o in (0, 4, 8, 16, 20, 28)]
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:
            dyn = (p_offset, p_filesz)
    for i in range(min(shnum, 64)):
        base = shoff + i * shentsize
        if base + (64 if is64 else 40) > len(data):
            break
        out += [(base + o, s, e) for o, s in (((4, 4), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8)) if is64 else
                                              ((4, 4), (16, 4), (20, 4), (24, 4), (28, 4), (36, 4)))]

    def offset_of(vaddr):
        for start, off, size in loads:
            if start <= vaddr < start + size:
                return off + vaddr - start
        return None

    tags = {}
    if dyn:
        for i in range(min(dyn[1] // (2 * w), 256)):
            at = dyn[0] + i * 2 * w
            if at + 2 * w > len(data):
                break
            tag, val = struct.unpack_from(e + ("qQ" if is64 else "iI"), data, at)
            out.append((at + w, w, e))
            tags[tag] = val
            if tag == 0:
                break
    # version requirement / definition chains and the GNU hash header: the fields whose
    # overlaps made the quadratic walk of issue 13
    vn = offset_of(tags.get(0x6FFFFFFE, -1))
    for _ in range(16):
        if vn is None or vn + 16 > len(data):
            break
        out += [(vn + 2, 2, e), (vn + 8, 4, e), (vn + 12, 4, e)]
        aux = vn + struct.unpack_from(e + "I", data, vn + 8)[0]
        for _ in range(8):
            if aux + 16 > len(data):
                break
            out += [(aux + 12, 4, e), (aux + 8, 4, e)]
            step = struct.unpack_from(e + "I", data, aux + 12)[0]
            if not step:
                break
            aux += step
        step = struct.unpack_from(e + "I", data, vn + 12)[0]
        vn = vn + step if step else None
    vd = offset_of(tags.get(0x6FFFFFFC, -1))
    for _ in range(16):
        if vd is None or vd + 20 > len(data):
            break
        out += [(vd + 6, 2, e), (vd + 12, 4, e), (vd + 16, 4, e)]
        step = struct.unpack_from(e + "I", data, vd + 16)[0]
        vd = vd + step if step else None
    gh = offset_of(tags.get(0x6FFFFEF5, -1))
    if gh is not None and gh + 16 <= len(data):
        out += [(gh + o, 4, e) for o in (0, 4, 8, 12)]
    return out


def ldcache_fields(data):
    out = []
    new = 0
    if data.startswith(b"ld.so-1.7.0") and len(data) >= 16:
        out.append((12, 4, "<"))
        nlibs = struct.unpack_from("<I", data, 12)[0]
        for i in range(min(nlibs, 64)):
            base = 16 + 12 * i
            if base + 12 > len(data):
                break
            out += [(base, 4, "<"), (base + 4, 4, "<"), (base + 8, 4, "<")]
        new = (16 + nlibs * 12 + 7) & ~7
    if data.startswith(b"glibc-ld.so.cache1.1", new) and len(data) >= new + 48:
        out += [(new + 20, 4, "<"), (new + 24, 4, "<")]
        nlibs = struct.unpack_from("<I", data, new + 20)[0]
        for i in range(min(nlibs, 64)):
            base = new + 48 + 24 * i
            if base + 24 > len(data):
                break
            out += [(base + o, s, "<") for o, s in ((0, 4), (4, 4), (8, 4), (12, 4), (16, 8))]
    return out


# --- the stdlib mutator --------------------------------------------------------------------
class Mutator(object):
    """Deterministic mutations of seed inputs: input ``i`` depends only on (seed, i)."""

    def __init__(self, target, seeds, seed):
        self.target = target
        self.seeds = [bytes(s) for s in seeds] or [b""]
        self.seed = seed
        self.fields = [target.fields(s) for s in self.seeds]
        self.binary = target.kind == "binary"
        self.tokens = list(target.tokens)

    def input(self, index):
        rng = random.Random((self.seed << 32) ^ index ^ (zlib.crc32(self.target.name.encode()) & 0xFFFF) << 48)
        which = rng.randrange(len(self.seeds))
        data = bytearray(self.seeds[which])
        if index < len(self.seeds):                 # every seed once, unmutated
            return bytes(self.seeds[index])
        ops = self._binary_ops if self.binary else self._text_ops
        for _ in range(1 + min(int(rng.expovariate(0.6)), 12)):
            op = rng.choice(ops)
            op(self, rng, data, which)
        return bytes(data[:MAX_LEN])

    # generic byte ops
    def _flip(self, rng, data, which):
        if data:
            at = rng.randrange(len(data))
            data[at] ^= 1 << rng.randrange(8)

    def _byte(self, rng, data, which):
        if data:
            data[rng.randrange(len(data))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x0A, 0x00, rng.randrange(256)))

    def _insert(self, rng, data, which):
        at = rng.randrange(len(data) + 1)
        n = rng.choice((1, 1, 2, 4, 8, rng.randrange(1, 256)))
        data[at:at] = bytes(rng.randrange(256) for _ in range(n))

    def _delete(self, rng, data, which):
        if data:
            at = rng.randrange(len(data))
            data[at:at + rng.choice((1, 2, 4, 8, rng.randrange(1, 1 + len(data))))] = b""

    def _duplicate(self, rng, data, which):
        if data and len(data) < MAX_LEN // 2:
            at = rng.randrange(len(data))
            piece = data[at:at + rng.randrange(1, 1 + min(4096, len(data)))]
            to = rng.randrange(len(data) + 1)
            data[to:to] = piece * rng.choice((1, 1, 2, 16))

    def _splice(self, rng, data, which):
        other = rng.choice(self.seeds)
        if other and data:
            cut, cut2 = rng.randrange(len(data)), rng.randrange(len(other))
            data[cut:] = other[cut2:]

    def _truncate(self, rng, data, which):
        if data:
            del data[rng.randrange(len(data)):]

    def _interesting(self, rng, data, which, at=None, size=None, end="<"):
        n = len(data)
        values = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                  0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, -1, n, n - 1, n + 1, n // 2, n - 8, n - 16,
                  1 << 30, 1 << 20, rng.randrange(1 << 16))
        value = rng.choice(values)
        if size is None:
            size = rng.choice((1, 2, 4, 8))
        if at is None:
            if len(data) < size:
                return
            at = rng.randrange(len(data) - size + 1) & ~(size - 1)
        if at + size > len(data):
            return
        value &= (1 << (8 * size)) - 1
        data[at:at + size] = value.to_bytes(size, "little" if end == "<" else "big")

    def _field(self, rng, data, which):
        fields = self.fields[which]
        if not fields:
            return self._interesting(rng, data, which)
        at, size, end = rng.choice(fields)
        self._interesting(rng, data, which, at, size, end)

    def _token(self, rng, data, which):
        if self.tokens:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(self.tokens)

    # text ops (line-level)
    def _line_op(self, rng, data, which):
        lines = bytes(data).split(b"\n")
        if not lines:
            return
        kind = rng.randrange(6)
        i = rng.randrange(len(lines))
        if kind == 0:
            rng.shuffle(lines)
        elif kind == 1:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif kind == 2:
            del lines[i]
        elif kind == 3:
            other = rng.choice(self.seeds).split(b"\n")
            lines.insert(i, rng.choice(other))
        elif kind == 4 and self.tokens:
            lines[i] = rng.choice(self.tokens).rstrip(b"\n") + b" = " + lines[i]
        else:
            lines.insert(i, b"".join(rng.choice(self.tokens) for _ in range(rng.randrange(1, 6)))
                         if self.tokens else b"")
        data[:] = b"\n".join(lines)

    def _text_char(self, rng, data, which):
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.choice((b"\0", b"\n", b"\r", b"\t", b" ", b"=", b"[", b"]", b"#", b";", b"\\", b"\"",
                                  b"\xff", b"\xe2\x80\xa8", b"\x1b", b"\xc3\xa9", b"0", b"9" * 64, b"x" * 4096))

    _binary_ops = (_flip, _flip, _byte, _insert, _delete, _duplicate, _splice, _truncate, _interesting,
                   _field, _field, _field, _field, _token)
    _text_ops = (_line_op, _line_op, _line_op, _token, _token, _token, _text_char, _text_char, _flip, _delete,
                 _insert, _duplicate, _splice, _truncate)


def load_seeds(name):
    directory = os.path.join(SEEDS, name)
    out = []
    if os.path.isdir(directory):
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            if os.path.isfile(path) and not entry.endswith(".SOURCE.md"):
                with open(path, "rb") as handle:
                    out.append(handle.read())
    return out


# --- running one input under the contract ------------------------------------------------
def _signature(target, exc, tb_exc=None):
    """(kind, where) of a finding: the exception type and the innermost frame in the package."""
    tb = exc.__traceback__
    where = "?"
    for frame, lineno in traceback.walk_tb(tb):
        filename = frame.f_code.co_filename
        if os.sep + "librbd_probe" + os.sep in filename:
            # file and function, not the line: the same bug keeps its name while the file changes
            where = "{}:{}".format(os.path.relpath(filename, ROOT), frame.f_code.co_name)
    cls = type(exc)
    name = cls.__name__ if cls.__module__ in ("builtins", "exceptions") else cls.__module__ + "." + cls.__name__
    # the message without its numbers and quoted parts tells two bugs of one function apart
    shape = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "", str(exc).split("\n")[0])[:60].strip()
    return name, where + (" (" + shape + ")" if shape else "")


def _last_line(exc):
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:300]


def _one_line_problem(exc):
    text = str(exc)
    if re.search(r"[\x00-\x1f\x7f\x85\u2028\u2029]", text):
        return "message is not one line: {!r}".format(text[:200])
    return None


def check_one(target, data):
    """Run ``data``: (finding or None, elapsed seconds).  A finding is a dict."""
    allowed = target.allowed()
    _arm(True)
    wall, start = time.perf_counter(), time.process_time()
    finding = None
    try:
        target.run(data)
    except Hang as exc:
        _arm(False)
        where = _signature(target, exc)[1].split(" (")[0]     # where the watchdog interrupted it
        finding = {"kind": "hang", "where": where, "last_line": "hang: " + str(exc)}
    except MemoryError as exc:
        _arm(False)
        kind, where = _signature(target, exc)
        finding = {"kind": "memory", "where": where, "last_line": "MemoryError (RLIMIT_AS {} MiB over start)".format(
            AS_MARGIN >> 20)}
    except allowed as exc:
        bad = _one_line_problem(exc)
        if bad:
            kind, where = _signature(target, exc)
            finding = {"kind": "multi-line " + kind, "where": where, "last_line": bad}
    except Exception as exc:           # noqa: BLE001 - anything outside the contract is the finding
        _arm(False)
        kind, where = _signature(target, exc)
        finding = {"kind": kind, "where": where, "last_line": _last_line(exc),
                   "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]}
    finally:
        elapsed = time.process_time() - start
        _arm(False)
        LAST_WALL[0] = time.perf_counter() - wall
    return finding, elapsed


LAST_WALL = [0.0]


def _maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


def _vsize():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * resource.getpagesize()


def limit_address_space():
    limit = _vsize() + AS_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_chunk(target, mutator, start, stop, progress):
    """In a worker: inputs start..stop-1; returns the chunk's figures and findings."""
    install_watchdog()
    limit_address_space()
    base_rss = _maxrss()
    stats = {"runs": 0, "slowest_ms": 0.0, "slowest_index": None, "slowest_wall_ms": 0.0, "peak_mib": 0.0,
             "findings": []}
    for index in range(start, stop):
        struct.pack_into("<q", progress, 0, index)
        data = mutator.input(index)
        finding, elapsed = check_one(target, data)
        stats["slowest_wall_ms"] = max(stats["slowest_wall_ms"], LAST_WALL[0] * 1000)
        if finding is None and elapsed > TIME_BOUND:
            again = min(check_one(target, data)[1] for _ in range(3))
            if again > TIME_BOUND:
                finding = {"kind": "slow", "where": "time", "last_line": "{:.0f} ms (bound {:.0f} ms)".format(
                    again * 1000, TIME_BOUND * 1000)}
            elapsed = again
        stats["runs"] += 1
        if elapsed * 1000 > stats["slowest_ms"]:
            stats["slowest_ms"], stats["slowest_index"] = elapsed * 1000, index
        growth = _maxrss() - base_rss
        stats["peak_mib"] = max(stats["peak_mib"], growth / float(1 << 20))
        if finding is None and growth > MEM_BOUND:
            finding = {"kind": "memory", "where": "rss", "last_line": "peak RSS grew {:.0f} MiB (bound {} MiB)".format(
                growth / float(1 << 20), MEM_BOUND >> 20)}
        if finding:
            finding["index"] = index
            stats["findings"].append(finding)
            if finding["kind"] in ("memory", "hang"):
                break                  # the worker's state is suspect: a fresh one goes on
    return stats


def fork_chunk(target, mutator, start, stop):
    """Run a chunk in a forked worker; a worker that dies becomes a finding at its input."""
    progress = mmap.mmap(-1, 8)
    struct.pack_into("<q", progress, 0, start)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        code = 0
        try:
            stats = run_chunk(target, mutator, start, stop, progress)
            payload = json.dumps(stats).encode()
            with os.fdopen(wfd, "wb") as out:
                out.write(payload)
        except BaseException:          # noqa: BLE001 - the parent reports the dead worker
            code = 70
        os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as inp:
        payload = inp.read()
    _, status = os.waitpid(pid, 0)
    if payload:
        return json.loads(payload.decode())
    index = struct.unpack_from("<q", progress, 0)[0]
    how = ("signal {}".format(os.WTERMSIG(status)) if os.WIFSIGNALED(status)
           else "exit {}".format(os.WEXITSTATUS(status)))
    return {"runs": index - start + 1, "slowest_ms": 0.0, "slowest_index": None, "peak_mib": 0.0, "died_at": index,
            "findings": [{"kind": "worker died", "where": how, "last_line": "worker died ({})".format(how),
                          "index": index}]}


def _commit():
    """The fuzzed tree's commit (with "+dirty" when librbd_probe/ has uncommitted changes)."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "librbd_probe"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + "+dirty" if dirty else head) or None


def campaign(name, runs, seed, log=None, max_seconds=None):
    """Every input 0..runs-1 of ``name`` (or as many as ``max_seconds`` allow, whole chunks);
    the target's figures and distinct findings."""
    target = make_target(name)
    target.setup()
    reason = target.skip_reason()
    if reason:
        return {"target": name, "owner": target.owner, "skipped": reason, "runs": 0}
    seeds = load_seeds(name)
    mutator = Mutator(target, seeds, seed)
    figures = {"target": name, "owner": target.owner, "contract": target.contract, "engine": "stdlib mutator",
               "seed": seed, "seeds": len(seeds), "commit": _commit(), "runs": 0, "outside_contract": 0, "distinct": 0,
               "slowest_ms": 0.0, "slowest_index": None, "slowest_wall_ms": 0.0, "peak_mib": 0.0}
    distinct = {}
    start_time = time.time()
    index = 0
    while index < runs:
        if max_seconds is not None and time.time() - start_time > max_seconds:
            figures["stopped"] = "time limit of {:.0f} s reached after {} of {} inputs".format(
                max_seconds, figures["runs"], runs)
            break
        stop = min(runs, index + CHUNK)
        stats = fork_chunk(target, mutator, index, stop)
        figures["runs"] += stats["runs"]
        if stats["slowest_ms"] > figures["slowest_ms"]:
            figures["slowest_ms"], figures["slowest_index"] = stats["slowest_ms"], stats["slowest_index"]
        figures["peak_mib"] = max(figures["peak_mib"], stats["peak_mib"])
        figures["slowest_wall_ms"] = max(figures["slowest_wall_ms"], stats.get("slowest_wall_ms", 0.0))
        for finding in stats["findings"]:
            figures["outside_contract"] += 1
            key = (finding["kind"], finding["where"])
            if key not in distinct:
                distinct[key] = dict(finding, count=0)
            distinct[key]["count"] += 1
        last = max([f["index"] for f in stats["findings"]] + [index + stats["runs"] - 1])
        index = last + 1
        if log:
            log("{}: {}/{} inputs, {} outside the contract ({} distinct), {:.0f}/s".format(
                name, figures["runs"], runs, figures["outside_contract"], len(distinct),
                figures["runs"] / max(time.time() - start_time, 1e-9)))
    elapsed = time.time() - start_time
    figures["seconds"] = round(elapsed, 1)
    figures["inputs_per_s"] = round(figures["runs"] / max(elapsed, 1e-9), 1)
    figures["slowest_ms"] = round(figures["slowest_ms"], 2)
    figures["slowest_wall_ms"] = round(figures["slowest_wall_ms"], 2)
    figures["peak_mib"] = round(figures["peak_mib"], 1)
    figures["distinct"] = len(distinct)
    figures["findings"] = sorted(distinct.values(), key=lambda f: (f["kind"], f["where"]))
    figures["_mutator"] = mutator
    figures["_target"] = target
    return figures


# --- minimising and saving findings --------------------------------------------------------
def _same(target, data, finding):
    got, _ = check_one(target, data)
    return got is not None and (got["kind"], got["where"]) == (finding["kind"], finding["where"])


def minimise(target, data, finding, budget=20.0):
    """Greedy chunk removal (then byte zeroing for binary inputs) keeping the same finding."""
    deadline = time.time() + budget
    if finding["kind"] in ("hang", "slow", "memory", "worker died"):
        deadline = time.time() + min(budget, 10.0)
    data = bytes(data)
    size = max(1, len(data) // 2)
    while size >= 1 and time.time() < deadline:
        at, changed = 0, False
        while at < len(data) and time.time() < deadline:
            candidate = data[:at] + data[at + size:]
            if _same(target, candidate, finding):
                data, changed = candidate, True
            else:
                at += size
        if not changed:
            size //= 2
    return data


def minimise_in_worker(target, data, finding, budget=20.0):
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            install_watchdog()
            limit_address_space()
            result = minimise(target, data, finding, budget)
            with os.fdopen(wfd, "wb") as out:
                out.write(result)
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as inp:
        result = inp.read()
    os.waitpid(pid, 0)
    return result if result else data


def save_findings(figures, briefs=BRIEFS, log=None):
    """Minimise each distinct finding; save it to the briefs and to tests/data/fuzz/crashes."""
    target, mutator = figures["_target"], figures["_mutator"]
    saved = []
    for finding in figures["findings"]:
        original = mutator.input(finding["index"])
        data = minimise_in_worker(target, original, finding)
        digest = hashlib.sha1(("{}|{}".format(finding["kind"], finding["where"])).encode()).hexdigest()[:12]
        fname = "{}-{}.bin".format(re.sub(r"[^A-Za-z0-9]+", "_", finding["kind"]).strip("_"), digest)
        paths = []
        for directory in (os.path.join(briefs, "fuzz-repro", target.name), os.path.join(CRASHES, target.name)):
            try:
                if not os.path.isdir(directory):
                    os.makedirs(directory)
                path = os.path.join(directory, fname)
                if not os.path.exists(path):
                    with open(path, "wb") as handle:
                        handle.write(data)
                paths.append(path)
            except OSError:
                continue
        finding["reproducer"] = paths[0] if paths else None
        finding["size"] = len(data)
        findings_md = os.path.join(briefs, "fuzz-findings.md")
        if os.path.isdir(briefs):
            existing = open(findings_md).read() if os.path.exists(findings_md) else ""
            if fname not in existing:
                with open(findings_md, "a") as handle:
                    if not existing:
                        handle.write("# Fuzz findings (helper h13e, tools/fuzz.py)\n\n"
                                     "Replay one: `python3 tools/fuzz.py --target T --replay PATH` "
                                     "(prints the traceback).\n\n")
                    handle.write("- target `{}` (owner {}), contract: {}; {} in `{}` ({}x in {} inputs); reproducer "
                                 "`{}` ({} bytes; also tests/data/fuzz/crashes/{}/{}); last line: `{}`\n".format(
                                     target.name, target.owner, target.contract, finding["kind"],
                                     finding["where"], finding["count"], figures["runs"],
                                     paths[0] if paths else "?", len(data),
                                     target.name, fname, finding["last_line"].replace("`", "'")))
        saved.append(finding)
        if log:
            log("{}: saved {} ({} bytes): {}".format(target.name, fname, len(data), finding["last_line"]))
    return saved


# --- replaying saved inputs -----------------------------------------------------------------
def replay(name, paths, verbose=False):
    """Each file under its target's contract and bounds, in a worker with RLIMIT_AS; a list of
    {"path", "ok", "ms", "peak_mib", "finding"}; tracemalloc measures the Python-side peak."""
    import tracemalloc
    target = make_target(name)
    target.setup()
    reason = target.skip_reason()
    results = []
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(os.path.join(path, f) for f in sorted(os.listdir(path)) if not f.endswith(".md"))
        else:
            files.append(path)
    for path in files:
        with open(path, "rb") as handle:
            data = handle.read()
        if reason:
            results.append({"path": path, "ok": None, "skipped": reason})
            continue
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                install_watchdog()
                limit_address_space()
                base = _maxrss()
                finding, elapsed = check_one(target, data)      # warm-up run (imports, caches)
                tracemalloc.start()
                finding2, elapsed2 = check_one(target, data)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                finding = finding or finding2
                elapsed = min(elapsed, elapsed2)
                if finding is None and elapsed > TIME_BOUND:
                    elapsed = min([elapsed] + [check_one(target, data)[1] for _ in range(3)])
                    if elapsed > TIME_BOUND:
                        finding = {"kind": "slow", "where": "time", "last_line": "{:.0f} ms".format(elapsed * 1000)}
                growth = max(peak, _maxrss() - base)
                if finding is None and growth > MEM_BOUND:
                    finding = {"kind": "memory", "where": "rss", "last_line": "{:.0f} MiB".format(growth / 1048576.0)}
                out = {"path": path, "ok": finding is None, "ms": round(elapsed * 1000, 2),
                       "peak_mib": round(growth / 1048576.0, 2), "finding": finding}
                with os.fdopen(wfd, "wb") as handle:
                    handle.write(json.dumps(out).encode())
            finally:
                os._exit(0)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as inp:
            payload = inp.read()
        _, status = os.waitpid(pid, 0)
        if payload:
            results.append(json.loads(payload.decode()))
        else:
            results.append({"path": path, "ok": False, "finding": {"kind": "worker died", "last_line": str(status)}})
        if verbose and results[-1].get("finding") and results[-1]["finding"].get("traceback"):
            sys.stderr.write(results[-1]["finding"]["traceback"])
    return results


# --- seeds from real files -----------------------------------------------------------------
def make_seeds(log=print):
    """Rebuild tests/data/fuzz/seeds/ from the real files of this machine (see SOURCE.md there)."""
    import tempfile
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import elfwriter                                           # noqa: E402 (tests' synthetic ELF writer)
    written = {}

    def put(target, name, data):
        directory = os.path.join(SEEDS, target)
        if not os.path.isdir(directory):
            os.makedirs(directory)
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(data)
        written.setdefault(target, []).append((name, len(data)))

    # ELF: small real libraries of this host, the real librbd/librados's first 4 KiB (header and
    # program headers: every offset points past the end), and tests/elfwriter.py's synthetic files
    for path in ("/usr/lib/x86_64-linux-gnu/libutil.so.1", "/usr/lib/x86_64-linux-gnu/libkeyutils.so.1.10",
                 "/usr/lib/x86_64-linux-gnu/libattr.so.1.1.2501", "/usr/lib/x86_64-linux-gnu/libmnl.so.0.2.0",
                 "/usr/lib/x86_64-linux-gnu/libacl.so.1.1.2301", "/usr/lib/x86_64-linux-gnu/libmemusage.so"):
        if os.path.exists(path):
            with open(path, "rb") as handle:
                put("elf", "host-" + os.path.basename(path), handle.read())
    for path in ("/usr/lib/x86_64-linux-gnu/librbd.so.1", "/usr/lib/x86_64-linux-gnu/librados.so.2"):
        if os.path.exists(path):
            with open(path, "rb") as handle:
                put("elf", "head4k-" + os.path.basename(path), handle.read(4096))
    # the real librbd/librados (16.2.15 amd64 installed, 16.2.15 arm64 of the corpus) re-laid
    # small: real header, dynamic tables, versions and the first relocations (derive_small_elf)
    arm64 = os.path.expanduser("~/.cache/librbd_probe/corpus/debian/16.2.15_arm64/root/usr/lib/aarch64-linux-gnu")
    for label, path in (("amd64", "/usr/lib/x86_64-linux-gnu/librbd.so.1"),
                        ("amd64", "/usr/lib/x86_64-linux-gnu/librados.so.2"),
                        ("arm64", os.path.join(arm64, "librbd.so.1")),
                        ("arm64", os.path.join(arm64, "librados.so.2"))):
        if os.path.exists(path):
            with open(path, "rb") as handle:
                put("elf", "relaid-{}-{}".format(label, os.path.basename(path)), derive_small_elf(handle.read()))
    Sym = elfwriter.Sym
    syms = [Sym("rbd_open", version="LIBRBD_1"), Sym("rbd_close"), Sym("rados_connect", defined=False,
                                                                          version="LIBRADOS_14.2.0")]
    for cls, order, machine, hash_style, sections in ((64, "little", 62, "gnu", True), (32, "little", 3, "sysv", True),
                                                     (32, "big", 20, "gnu", False), (64, "big", 43, "sysv", False),
                                                     (64, "little", 183, "both", True)):
        image = elfwriter.build(cls, order, machine, soname="librbd.so.1", needed=("librados.so.2", "libc.so.6"),
                                runpath="$ORIGIN/../lib", symbols=syms, verdefs=("LIBRBD_1",),
                                verneed=(("librados.so.2", ("LIBRADOS_14.2.0",)),), section_headers=sections,
                                hash_style=hash_style, build_id=b"\x01" * 20, rodata=b"ceph_ver__16.2.15\0")
        put("elf", "elfwriter-{}{}-{}-{}.so".format(cls, order[0], machine, hash_style), image.data)

    # ld.so.cache: this host's real /etc/ld.so.cache, and caches the real ldconfig writes in
    # every format (-c new/compat/old) for a root holding the real librbd, librados, libc, libm
    if os.path.exists("/etc/ld.so.cache"):
        with open("/etc/ld.so.cache", "rb") as handle:
            put("ldcache", "host-etc-ld.so.cache", handle.read())
    tmp = tempfile.mkdtemp(prefix="h13e-seeds-")
    try:
        lib = os.path.join(tmp, "usr", "lib")
        os.makedirs(lib)
        os.makedirs(os.path.join(tmp, "etc"))
        with open(os.path.join(tmp, "etc", "ld.so.conf"), "w") as handle:
            handle.write("/usr/lib\n")
        for path in ("/usr/lib/x86_64-linux-gnu/librbd.so.1", "/usr/lib/x86_64-linux-gnu/librados.so.2",
                     "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6"):
            real = os.path.realpath(path)
            if os.path.exists(real):
                shutil.copy(real, os.path.join(lib, os.path.basename(real)))
        for fmt in ("new", "compat", "old"):
            subprocess.run(["/sbin/ldconfig", "-X", "-r", tmp, "-c", fmt, "-C", "/etc/ld.so.cache"], check=True)
            with open(os.path.join(tmp, "etc", "ld.so.cache"), "rb") as handle:
                put("ldcache", "ldconfig-c-{}.cache".format(fmt), handle.read())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # ld.so.conf: this host's real /etc/ld.so.conf and its ld.so.conf.d, as one bundle and alone
    parts = []
    if os.path.exists("/etc/ld.so.conf"):
        with open("/etc/ld.so.conf", "rb") as handle:
            parts.append(handle.read().rstrip(b"\n"))
    confd = "/etc/ld.so.conf.d"
    for entry in sorted(os.listdir(confd)) if os.path.isdir(confd) else ():
        with open(os.path.join(confd, entry), "rb") as handle:
            body = handle.read()
        put("ldconf", "host-" + entry, body)
        parts.append(os.path.join(confd, entry).encode() + b"\n" + body.rstrip(b"\n"))
    put("ldconf", "host-bundle.conf", FILE_MARK.join(parts) + b"\n")
    put("ldconf", "include-cycle.conf", b"include /etc/ld.so.conf.d/*.conf\n" + FILE_MARK.join(
        [b"", b"/etc/ld.so.conf.d/a.conf\ninclude /etc/ld.so.conf.d/*.conf\n/opt/a/lib",
         b"/etc/ld.so.conf.d/b.conf\ninclude *.conf\ninclude ld.so.conf.d/a.conf\n/opt/b/lib:/opt/c/lib,/opt/d"]))

    # keyrings written by the real ceph-authtool
    for name, data in _real_keyrings(log):
        put("keyring", name, data)

    # ceph.conf: the one tests/cluster.py writes for the real one-node cluster the tests run
    # (its temporary directory replaced by /var/lib/ceph), and the option lines of Ceph's
    # src/sample.ceph.conf (ceph/ceph 02b290cc; its comments dropped, commented-out options kept)
    for found in sorted(p for p in (os.path.join("/tmp", d, "ceph.conf") for d in os.listdir("/tmp")
                                    if d.startswith("librbd-probe-cluster-")) if os.path.exists(p))[:1]:
        with open(found, "rb") as handle:
            text = handle.read()
        put("cephconf", "tests-cluster.conf", text.replace(os.path.dirname(found).encode(), b"/var/lib/ceph"))
    put("cephconf", "ceph-sample-options.conf", SAMPLE_CONF)
    put("cephconf", "rbd-client.conf", RBD_CONF)
    put("keyring", "in-ceph-conf.keyring", b"[client.admin]\n\tkey = AQBvaBFZAAAAABAA9VHgwCg3rWn8fMaX8KL01A==\n")

    # explain: the real client error texts of tests/data/field and tests/data/holdout
    for sub in ("field", "holdout"):
        directory = os.path.join(ROOT, "tests", "data", sub)
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json"):
                with open(os.path.join(directory, entry)) as handle:
                    doc = json.load(handle)
                if doc.get("text"):
                    put("explain", "{}-{}.log".format(sub, entry[:-5]), doc["text"].encode("utf-8", "surrogateescape"))

    # saved reports: the CLI's --json on this host (runtime and static) and on the corpus roots
    env = dict(os.environ, PYTHONPATH=ROOT)
    runs = [("host-runtime", []), ("host-static", ["--no-runtime"])]
    corpus = os.path.expanduser("~/.cache/librbd_probe/corpus/debian")
    for entry in ("14.2.21_amd64", "18.2.7_amd64", "16.2.15_arm64"):
        root = os.path.join(corpus, entry, "root")
        if os.path.isdir(root):
            runs.append(("root-" + entry, ["--root", root]))
    for name, extra in runs:
        proc = subprocess.run([sys.executable, "-m", "librbd_probe", "--json"] + extra, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd="/")
        if proc.stdout.strip().startswith(b"{"):
            put("report", name + ".json", proc.stdout)
    # Ansible's json callback output of tests/test_ansible.py's real playbook run (five targets),
    # cut to the smallest scanned host and the two that failed
    ansible = os.path.expanduser("~/.cache/librbd_probe/artifacts/ansible/callback-json.json")
    if os.path.exists(ansible):
        with open(ansible) as handle:
            doc = json.load(handle)
        for play in doc.get("plays") or ():
            for task in play.get("tasks") or ():
                hosts = task.get("hosts") or {}
                keep = sorted(hosts, key=lambda h: len(json.dumps(hosts[h])))[:3]
                task["hosts"] = {h: hosts[h] for h in keep}
        put("report", "ansible-callback-json.json", json.dumps(doc, indent=1, sort_keys=True).encode())
    log("seeds written: " + json.dumps({k: len(v) for k, v in written.items()}))
    return written


DT_RELA, DT_RELASZ, DT_JMPREL, DT_PLTRELSZ, DT_RELACOUNT = 7, 8, 23, 2, 0x6FFFFFF9


def derive_small_elf(data, keep_rela=4096):
    """A small seed re-laid from a real 64-bit little-endian shared library: its first PT_LOAD
    cut after the dynamic tables (GNU hash, dynsym, dynstr, versym, verdef, verneed: real
    bytes at their real offsets), then its real PT_DYNAMIC and the first ``keep_rela`` bytes of
    its RELA tables appended, the dynamic entries and program headers pointed at the new
    places, the other segments made PT_NULL and the section headers dropped."""
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)) for i in range(e_phnum)]
    load0 = next(p for p in phdrs if p[0] == 1 and p[2] == 0 and p[3] == 0)
    dyn_ph = next(p for p in phdrs if p[0] == 2)
    dyn = data[dyn_ph[2]:dyn_ph[2] + dyn_ph[5]]
    tags = [list(struct.unpack_from("<qQ", dyn, i)) for i in range(0, len(dyn) - 15, 16)]
    tag = dict((t, v) for t, v in tags)
    table_ends = [tag[t] for t in (0x6FFFFEF5, 6, 5, 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFE) if t in tag]
    cut = max(table_ends) + 4096          # past the last table's start; versions are small
    if DT_RELA in tag:
        cut = min(cut, tag[DT_RELA])
    cut = min(cut, load0[5])
    out = bytearray(data[:cut])
    pieces = {}
    for start_tag, size_tag in ((DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)):
        if start_tag in tag and size_tag in tag:
            size = min(tag[size_tag], keep_rela) // 24 * 24
            while len(out) % 8:
                out.append(0)
            pieces[start_tag] = (len(out), size)
            out += data[tag[start_tag]:tag[start_tag] + size]
    while len(out) % 8:
        out.append(0)
    dyn_at = len(out)
    for entry in tags:
        if entry[0] in pieces:
            entry[1] = pieces[entry[0]][0]
        elif entry[0] == DT_RELASZ and DT_RELA in pieces:
            entry[1] = pieces[DT_RELA][1]
        elif entry[0] == DT_PLTRELSZ and DT_JMPREL in pieces:
            entry[1] = pieces[DT_JMPREL][1]
        elif entry[0] == DT_RELACOUNT and DT_RELA in pieces:
            entry[1] = min(entry[1], pieces[DT_RELA][1] // 24)
        out += struct.pack("<qQ", *entry)
    for i, ph in enumerate(phdrs):
        if ph is load0:
            ph[5] = ph[6] = len(out)
        elif ph is dyn_ph:
            ph[2] = ph[3] = ph[4] = dyn_at
        elif ph[0] not in (4, 0x6474E551):     # PT_NOTE (inside the cut) and PT_GNU_STACK stay
            ph[0] = 0
        struct.pack_into("<IIQQQQQQ", out, e_phoff + i * e_phentsize, *ph)
    struct.pack_into("<Q", out, 40, 0)                          # e_shoff
    struct.pack_into("<HH", out, 60, 0, 0)                      # e_shnum, e_shstrndx
    return bytes(out)


SAMPLE_CONF = b"""[global]
    ;fsid                       = {UUID}    # use `uuidgen` to generate your own UUID
    ;public network             = 192.168.0.0/24
    ;cluster network            = 192.168.0.0/24
    pid file                   = /var/run/ceph/$name.pid
    ;max open files             = 131072
    auth cluster required      = cephx
    auth service required      = cephx
    auth client required       = cephx
    ;cephx require signatures   = true
    cephx cluster require signatures = true
    cephx service require signatures = false
    ;keyring                  = /etc/ceph/$cluster.$name.keyring
    ;osd pool default size      = 3
    ;osd pool default min size  = 2
    ;osd pool default pg num    = 128
    ;log file                   = /var/log/ceph/$cluster-$name.log
    ;ms bind ipv6               = true
[mon]
    ;mon host                   = cephhost01,cephhost02
    ;mon addr                   = 192.168.0.101,192.168.0.102
    ;mon clock drift allowed    = .15
    ;mon clock drift warn backoff = 30    # Tell the monitor to backoff from this warning for 30 seconds
    ;debug ms                   = 1
;[mon.alpha]
;    host                       = alpha
;    mon addr                   = 192.168.0.10:6789
[mds]
    ;mds cache memory limit     = 2G
[osd]
    #osd mkfs options {fs-type}   = {mkfs options}   # default for xfs is "-f"
    ;osd mount options btrfs      = noatime,nodiratime
    ;osd journal size             = 2048     ; journal size, in megabytes
    ;filestore merge threshold    = -10
[client]
    rbd cache                           = true
    ;rbd cache size                     = 33554432
    ;rbd cache max dirty age            = 1.0
    ;admin socket                       = /var/run/ceph/$cluster-$type.$id.$pid.$cctid.asok
[client.radosgw.gateway]
    ;host                         =  ceph-radosgw
    ;keyring                      = /etc/ceph/ceph.client.radosgw.keyring
"""

RBD_CONF = b"""[global]
mon host = 10.0.0.1,10.0.0.2:6789,[v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]
[client]
rbd default features = 61
rbd default format = 2
rbd_default_stripe_unit = 4M
rbd default stripe count = 1
rbd default data pool = ec-data
[client.cinder]
keyring = /etc/ceph/ceph.client.cinder.keyring
rbd default features = layering,exclusive-lock,object-map,fast-diff,deep-flatten
rbd default map options = ms_mode=secure
[client.old]
rbd default features = 3 ; layering + striping
rbd default format = 1
"""


def _real_keyrings(log=print):
    """Keyrings written by the real ceph-authtool (fresh keys each call)."""
    import tempfile
    out = []
    tool = shutil.which("ceph-authtool")
    if not tool:
        return out
    tmp = tempfile.mkdtemp(prefix="h13e-keyring-")
    try:
        path = os.path.join(tmp, "k")
        subprocess.run([tool, "--create-keyring", path, "--gen-key", "-n", "client.admin", "--cap", "mon",
                        "allow *", "--cap", "osd", "allow *"], check=True, stdout=subprocess.PIPE)
        subprocess.run([tool, path, "--gen-key", "-n", "client.rbd", "--cap", "mon", "profile rbd", "--cap", "osd",
                        "profile rbd pool=rbd"], check=True, stdout=subprocess.PIPE)
        with open(path, "rb") as handle:
            out.append(("ceph-authtool-two-entities.keyring", handle.read()))
        path2 = os.path.join(tmp, "k2")
        subprocess.run([tool, "--create-keyring", path2, "--gen-key", "-n", "mon."], check=True, stdout=subprocess.PIPE)
        with open(path2, "rb") as handle:
            out.append(("ceph-authtool-mon.keyring", handle.read()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# --- command line ----------------------------------------------------------------------------
def _atheris(name, runs, argv, json_path=None):
    import atexit
    import atheris                                             # only in an interpreter that has it
    with atheris.instrument_imports():
        import librbd_probe.elf                                # noqa: F401
        import librbd_probe.locate                             # noqa: F401
        import librbd_probe.config                             # noqa: F401
        import librbd_probe.explain                            # noqa: F401
        import librbd_probe.snapshot                           # noqa: F401
        import librbd_probe.fleet                              # noqa: F401
    target = make_target(name)
    target.setup()
    reason = target.skip_reason()
    if reason:
        print("{}: skipped: {}".format(name, reason))
        return 0
    install_watchdog()
    limit_address_space()
    counter = [0]
    figures = {"target": name, "owner": target.owner, "contract": target.contract,
               "engine": "atheris (coverage-guided, libFuzzer)", "runs": 0, "outside_contract": 0,
               "slowest_ms": 0.0}
    started = time.time()

    def summary():
        figures["runs"] = counter[0]
        figures["seconds"] = round(time.time() - started, 1)
        figures["inputs_per_s"] = round(counter[0] / max(time.time() - started, 1e-9), 1)
        figures["peak_rss_mib"] = round(_maxrss() / 1048576.0, 1)
        figures["slowest_ms"] = round(figures["slowest_ms"], 2)
        if json_path:
            with open(json_path, "w") as handle:
                json.dump(figures, handle, indent=1, sort_keys=True)
        sys.stderr.write("atheris {}: {}\n".format(name, json.dumps(figures, sort_keys=True)))

    atexit.register(summary)

    def one(data):
        counter[0] += 1
        finding, elapsed = check_one(target, bytes(data))
        if finding is None and elapsed > TIME_BOUND:
            elapsed = min(check_one(target, bytes(data))[1] for _ in range(3))
            if elapsed > TIME_BOUND:
                finding = {"kind": "slow", "last_line": "{:.0f} ms".format(elapsed * 1000)}
        figures["slowest_ms"] = max(figures["slowest_ms"], elapsed * 1000)
        if finding:
            figures["outside_contract"] += 1
            figures["finding"] = finding
            raise RuntimeError("{} outside the contract ({}): {}".format(name, target.contract, finding["last_line"]))

    corpus = os.path.join(shm_dir(), "atheris-" + name)
    if not os.path.isdir(corpus):
        os.makedirs(corpus)
        for i, data in enumerate(load_seeds(name)):
            with open(os.path.join(corpus, "seed{}".format(i)), "wb") as handle:
                handle.write(data)
    args = [sys.argv[0], corpus, "-atheris_runs={}".format(runs), "-max_len={}".format(MAX_LEN), "-timeout=5",
            "-rss_limit_mb=0", "-artifact_prefix=" + corpus + "-crash-"] + list(argv)
    atheris.Setup(args, one)
    atheris.Fuzz()
    return 0


def table(paths):
    """Markdown rows of the README's figures table from campaign JSON files."""
    rows = ["| target | owner | contract | inputs | outside the contract (distinct) | slowest input, CPU ms (wall) "
            "| peak memory growth, MiB | inputs/s | commit |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for path in paths:
        with open(path) as handle:
            doc = json.load(handle)
        for f in doc if isinstance(doc, list) else [doc]:
            if f.get("skipped"):
                rows.append("| {} | {} | | skipped: {} | | | | | |".format(f["target"], f["owner"], f["skipped"]))
                continue
            rows.append("| {} | {} | {} | {:,} | {} ({}) | {:.2f} ({:.0f}) | {} | {:,.0f} | {} |".format(
                f["target"], f["owner"], f.get("contract", ""), f["runs"], f.get("outside_contract", 0),
                f.get("distinct", len(f.get("findings") or ())), f.get("slowest_ms", 0.0),
                f.get("slowest_wall_ms", 0.0),
                f.get("peak_mib", f.get("peak_rss_mib")), f.get("inputs_per_s", 0), f.get("commit") or ""))
    return "\n".join(rows)


def _public(figures):
    return {k: v for k, v in figures.items() if not k.startswith("_")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="all", help="one of {} or all".format(", ".join(TARGET_NAMES)))
    parser.add_argument("--runs", type=int, default=2000, help="inputs per target")
    parser.add_argument("--runs-of", action="append", default=[], metavar="TARGET=N",
                        help="inputs for one target (overrides --runs for it)")
    parser.add_argument("--max-seconds", type=float, help="stop each target after this long (whole chunks)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=("stdlib", "atheris"), default="stdlib")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--save", action="store_true",
                        help="minimise findings, save them under {}/fuzz-repro/ and tests/data/fuzz/crashes/".format(
                            BRIEFS))
    parser.add_argument("--replay", nargs="+", metavar="PATH", help="check saved inputs (files or directories)")
    parser.add_argument("--make-seeds", action="store_true", help="rebuild tests/data/fuzz/seeds from real files")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="print the README table of campaign JSON files")
    parser.add_argument("--quiet", action="store_true")
    args, rest = parser.parse_known_args(argv)
    log = (lambda text: None) if args.quiet else (lambda text: sys.stderr.write(text + "\n"))
    names = TARGET_NAMES if args.target == "all" else [args.target]
    if args.table:
        print(table(args.table))
        return 0
    if args.make_seeds:
        make_seeds(log)
        return 0
    if args.engine == "atheris":
        return _atheris(names[0], args.runs, rest, args.json)
    if args.replay:
        results = replay(names[0], args.replay, verbose=not args.quiet)
        print(json.dumps(results, indent=1, sort_keys=True))
        return 0 if all(r.get("ok") is not False for r in results) else 1
    out = []
    for name in names:
        runs = dict((k, int(v)) for k, _, v in (item.partition("=") for item in args.runs_of)).get(name, args.runs)
        figures = campaign(name, runs, args.seed, log, args.max_seconds)
        if args.save and figures.get("findings"):
            save_findings(figures, log=log)
        out.append(_public(figures))
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1, sort_keys=True)
    for figures in out:
        if figures.get("skipped"):
            print("{:9} skipped: {}".format(figures["target"], figures["skipped"]))
            continue
        print("{:9} {:>9,} inputs  {:>6} outside the contract ({} distinct)  slowest {:7.2f} ms CPU "
              "({:.0f} ms wall)  peak {:6.1f} MiB  {:8.0f} inputs/s".format(
                  figures["target"], figures["runs"], figures["outside_contract"], figures["distinct"],
                  figures["slowest_ms"], figures["slowest_wall_ms"], figures["peak_mib"], figures["inputs_per_s"]))
        for finding in figures["findings"]:
            print("    {} x{} at {}: {}".format(finding["kind"], finding["count"], finding["where"],
                                                finding["last_line"]))
    return 1 if any(f.get("outside_contract") for f in out) else 0


if __name__ == "__main__":
    sys.exit(main())
