"""Put the pipeline together for one host or build root: locate -> elf -> probe -> matrix.

This is the I/O edge of the library API: it reads files, asks the loader's configuration and
starts the child, then hands plain evidence to the pure modules.
"""
import os
import sys

from . import config as config_mod
from . import elf, identify, krbd, locate, matrix, probe
from . import knowledge as kn
from . import safeio
from .errors import ElfError, InputError, ProbeError
from .model import Candidate, LibraryReport, Report, RuntimeReport, to_plain
from .rootfs import Root

ENV_LIBRBD = "LIBRBD_PROBE_LIBRBD"
ENV_LIBRADOS = "LIBRBD_PROBE_LIBRADOS"

# What the scan reads of each library's symbol table: the C API names (knowledge layer) and
# libceph-common's version markers / exported version helpers.
_VERSION_PREFIXES = (b"ceph_ver", b"_Z19ceph_")


def _interpreter_arch():
    """(class, machine) of the running interpreter: what dlopen here could accept."""
    try:
        info = elf.read_identity(os.path.realpath(sys.executable))
        return info.elf_class, info.machine
    except ElfError:
        return None


class _Scanner(object):
    """Holds what one scan has read, so no file is parsed twice."""

    def __init__(self, fs, environ):
        self.early = None           # a probe child started before the static reading (_start_early_probe)
        self.fs = fs
        self.ctx = locate.search_context(fs, environ)
        self.host_arch = _interpreter_arch() if fs.is_host else None
        self.headers = {}
        self.listings = {}
        self.realpaths = {}
        self.unusable = []              # (library, path, reason): ELF files that are not libraries
        self.elf_notes = []             # (library, path, note): header claims the reader bounded

    def realpath(self, path):
        """Root.realpath, once per path (every candidate is resolved several times).

        On the host, an absolute path's directory is resolved once (and kept) and only its
        last name is looked at: os.path.realpath would lstat every component of every path,
        the same ten directories again and again (tests/test_scan.py compares the two on
        links of every kind)."""
        if path not in self.realpaths:
            self.realpaths[path] = self._resolve(path)
        return self.realpaths[path]

    def _resolve(self, path):
        if self.fs.path is None and isinstance(path, str) and path.startswith("/"):
            head, base = os.path.split(path)
            if base not in ("", ".", ".."):
                candidate = os.path.join(self.realpath(head), base)
                if not os.path.islink(candidate):
                    return candidate
        return self.fs.realpath(path)

    def header(self, path):
        real = self.realpath(path)
        if real not in self.headers:
            try:
                self.headers[real] = elf.read_identity(real)
            except ElfError as exc:
                self.headers[real] = exc
        return self.headers[real]

    def listdir(self, directory):
        """Sorted os.listdir, once per real directory (/lib is /usr/lib on merged /usr)."""
        key = self.realpath(directory)
        if key not in self.listings:
            try:
                self.listings[key] = sorted(os.listdir(key))
            except OSError as exc:
                self.listings[key] = exc
        value = self.listings[key]
        if isinstance(value, OSError):
            raise value
        return value

    def accept(self, path):
        info = self.header(path)
        if isinstance(info, ElfError):
            return False, str(info)
        if info.file_type != "DYN":
            return False, "not a shared object ({})".format(info.file_type)
        if self.host_arch and (info.elf_class, info.machine) != self.host_arch:
            return False, "{}-bit {} (the loader skips it here)".format(info.elf_class, info.machine)
        return True, None

    def candidates(self, soname, stem, chosen_path, found):
        """Every copy on the host, de-duplicated by real path, the chosen one marked."""
        chosen_real = self.realpath(chosen_path) if chosen_path else None
        out = []
        seen = set()
        extra = locate.other_copies(stem, self.ctx, known=[f.path for f in found], listdir=self.listdir,
                                    resolve=self.realpath)
        for item in list(found) + extra:
            real = self.realpath(item.path)
            if real in seen:
                continue
            seen.add(real)
            info = self.header(item.path)
            ok, note = self.accept(item.path)
            arch = None if isinstance(info, ElfError) else info.machine
            out.append(Candidate(path=item.path, realpath=real, source=item.source,
                                 file_version=locate.file_version(real, soname), arch=arch,
                                 compatible=ok, chosen=(real == chosen_real), note=note))
        return tuple(out)

    def find(self, soname, stem, explicit, explicit_source, requester=None):
        """Return (chosen path or None, source, candidates)."""
        if requester is not None:
            runpath, rpath = requester.runpath, requester.rpath
            origin = os.path.dirname(self.realpath(requester.path))
        else:
            runpath = rpath = ()
            origin = None
        found = locate.search_order(soname, self.ctx, runpath=runpath, rpath=rpath, origin_dir=origin)
        if explicit:
            locate.check_explicit(explicit, explicit_source)
            item = locate.Found(os.path.abspath(explicit), "explicit")
            return item.path, "explicit", self.candidates(soname, stem, item.path, [item] + found)
        chosen, _ = locate.choose(found, self.accept)
        path = chosen.path if chosen else None
        return path, (chosen.source if chosen else None), self.candidates(soname, stem, path, found)

    def library(self, name, soname, stem, explicit=None, explicit_source=None, requester=None,
                symbols=True, markers=()):
        path, source, candidates = self.find(soname, stem, explicit, explicit_source, requester)
        if path is None:
            return LibraryReport(name=name, found=False, candidates=candidates), None
        real = self.realpath(path)
        try:
            info = elf.read_elf(real, symbols=symbols, name_filter=kn.api_prefixes_bytes() + _VERSION_PREFIXES,
                                markers=markers, defined_only=True)
        except ElfError as exc:
            return LibraryReport(name=name, found=True, path=path, realpath=real, chosen_by=source,
                                 candidates=candidates, size=_size(real), error=str(exc)), None
        self.elf_notes.extend((name, real, note) for note in info.notes)
        unusable = identify.unusable_reason(info)
        if unusable:
            self.unusable.append((name, real, unusable))
            return LibraryReport(name=name, found=True, path=path, realpath=real, chosen_by=source,
                                 candidates=candidates, size=info.size,
                                 error="{}: not a usable shared library: {}".format(real, unusable)), None
        functions = _exported_functions(info, hidden_too=True)
        base = info.version_definitions[0] if info.version_definitions and info.version_flags and (
            info.version_flags[0] & elf.VER_FLG_BASE) else None
        report = LibraryReport(
            name=name, found=True, path=path, realpath=real, chosen_by=source, soname=info.soname,
            arch=info.machine, elf_class=info.elf_class, byte_order=info.byte_order, size=info.size,
            build_id=info.build_id, needed=info.needed, runpath=info.runpath, rpath=info.rpath,
            version_definitions=info.version_definitions,
            defined_symbols=len({s.name for s in functions}), candidates=candidates,
            functions=tuple(sorted({s.name if s.version in (None, base) else "{}@{}".format(s.name, s.version)
                                    for s in functions if s.binding in ("GLOBAL", "WEAK")})))
        return report, info


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


_FUNCTION_TYPES = frozenset(("FUNC", "GNU_IFUNC"))
_EXPORTED = frozenset(("DEFAULT", "PROTECTED"))


def _exported_functions(info, hidden_too=False):
    """The C API functions the library exports (kn.is_api_function on the name; ELF: defined,
    FUNC/IFUNC, default or protected visibility; a hidden version counts only if asked): one
    pass, the ELF tests first (a scan filters some 2,700 symbols); a Symbol's name is a str, so
    kn.is_api_function is its startswith test on kn.api_prefixes(), done here without a call
    per name."""
    prefixes = kn.api_prefixes()
    return [s for s in info.symbols
            if s.defined and s.type in _FUNCTION_TYPES and s.visibility in _EXPORTED
            and (hidden_too or not s.version_hidden) and s.name.startswith(prefixes)]


def _defined_functions(info):
    if info is None:
        return None
    return frozenset(s.name for s in _exported_functions(info))


def scan(librbd=None, librados=None, root=None, runtime=True, timeout=15.0,
         environ=None, python=None, conf=None, client_id=None, client_name=None, sysfs="/sys",
         keyring=None):
    """Scan the host (or ``root``) and return a Report.  Raises LocateError for bad paths,
    InputError for a ``conf`` or ``keyring`` that is not a readable regular file within its limit.

    Wiring only: each step's analysis lives in its module (locate, probe, identify, matrix,
    config, krbd); this function reads what they need and hands it on.
    """
    environ = os.environ if environ is None else environ
    librbd = librbd or environ.get(ENV_LIBRBD) or None
    librados = librados or environ.get(ENV_LIBRADOS) or None
    fs = Root(root)                                   # LocateError when not a directory
    scanner = _Scanner(fs, environ)
    scanner.early = _start_early_probe(scanner, librbd, librados, runtime, timeout, python)

    rbd_report, rbd_info = scanner.library(
        "librbd", kn.soname("librbd"), "librbd.so", librbd,
        "--librbd" if librbd and librbd != environ.get(ENV_LIBRBD) else ENV_LIBRBD)
    rados_needed = _needed_name(rbd_info, "librados.so", kn.soname("librados"))
    rados_report, rados_info = scanner.library(
        "librados", rados_needed, "librados.so", librados,
        "--librados" if librados and librados != environ.get(ENV_LIBRADOS) else ENV_LIBRADOS,
        requester=rbd_info)
    common_needed = _needed_name(rados_info, "libceph-common.so", None)
    common_report, common_info = LibraryReport(name="libceph-common", found=False), None
    if common_needed:
        # libceph-common exports some 14,000 C++ symbols; only its version markers matter.
        common_report, common_info = scanner.library("libceph-common", common_needed, "libceph-common.so",
                                                     requester=rados_info, symbols=False,
                                                     markers=(b"ceph_ver__",))
    libraries = {"librbd": rbd_report, "librados": rados_report, "libceph-common": common_report}
    problems = locate.resolution_problems(libraries, rados_needed, fs.path, rbd_info is not None)
    problems.extend(locate.context_problems(scanner.ctx))     # ld.so.cache / ld.so.conf (issue 13)

    conf_candidates, conf_path, conf_source, conf_refusal, conf_parsed, conf_verdict = _client_conf(
        conf, keyring, environ, fs, client_id, client_name)
    # a file librados 16.2.15 aborts on is not handed to the child: the probe would die with it;
    # nor one whose keyring or keyfile is a FIFO: rados_conf_read_file may block on it
    # (config.file_fifos)
    order = config_mod.section_order(client_id, client_name)
    fifos = config_mod.file_fifos(conf_parsed, order, conf_path, client_name, fs)
    config_request = {"path": conf_path, "read": bool(conf_path) and not conf_refusal
                      and conf_verdict.get("status") != "aborts" and not (fifos["keyring"] or fifos["keyfile"]),
                      "id": client_id,
                      "name": client_name, "keys": list(config_mod.KEYS),
                      "raw": config_mod.raw_values(conf_parsed or {}, order)}
    runtime_report = _runtime(scanner, rbd_report, rados_report, runtime, timeout, python, config_request)
    if scanner.early is not None:       # started for a probe the scan did not make: killed unread
        scanner.early.cancel()
    problems.extend(probe.runtime_problems(runtime_report, libraries))

    rbd_functions = _defined_functions(rbd_info)          # (identification and the matrix both read it)
    release, release_problems = identify.identify(
        _observation(rbd_functions, rados_info, common_report, common_info, runtime_report)._replace(
            unusable=tuple(scanner.unusable), elf_notes=tuple(scanner.elf_notes)))
    problems.extend(release_problems)
    evidence = matrix.Evidence(
        librbd_found=rbd_report.found,
        librbd_name=os.path.basename(rbd_report.path or "librbd"),
        librbd_realpath=rbd_report.realpath,
        librbd_symbols=rbd_functions,
        librbd_needed=rbd_report.needed,
        runtime=runtime_report,
        unreadable_reason=rbd_report.error,
        unusable_reason=next((r for lib, _, r in scanner.unusable if lib == "librbd"), None))
    capabilities, cap_problems = matrix.build(evidence, release, environ)
    problems.extend(cap_problems)

    config_section, config_problems = config_mod.configuration(
        runtime_report.config, conf_path, conf_source, conf_candidates, client_id, client_name,
        release.facts, runtime_report.features_check, parsed=conf_parsed, refusal=conf_refusal,
        environ=environ if fs.is_host else None, keyring=keyring, root=fs, verdict=conf_verdict, fifos=fifos)
    problems.extend(config_problems)
    if runtime_report.config:
        # the child's own config answer, as shown under "runtime": redacted like the section
        runtime_report = runtime_report._replace(
            config=safeio.redact_tree(to_plain(runtime_report.config), safeio.known_secrets()))
    krbd_section, krbd_problems = krbd.section(
        sysfs, fs, (config_section.get("rbd_default_features") or {}).get("value"))
    problems.extend(krbd_problems)
    return Report(mode="runtime" if runtime_report.attempted else "static",
                  root=fs.path, libraries=libraries,
                  runtime=runtime_report, capabilities=capabilities, problems=tuple(problems),
                  release=release, config=config_section, krbd=krbd_section)


def _client_conf(conf, keyring, environ, fs, client_id, client_name):
    """(candidates, path, source, refusal, parsed, verdict) of the client's ceph.conf (config.py
    reads; verdict: what librados 16.2.15's grammar does with the whole file).

    A --conf or --keyring the user named must be a regular file within its limit (InputError:
    exit 2); a discovered file that is not is a stated problem and nobody reads it."""
    # the null device (--conf /dev/null, CEPH_CONF=/dev/null): an empty configuration, as
    # librados reads it (config.choose_conf, config.read_conf); every other device is refused
    try:
        if conf is not None and not safeio.is_null_device(conf):
            info = safeio.check_regular(conf, "--conf")
            if info.st_size > safeio.LIMITS["ceph.conf"]:
                raise InputError("--conf {}: {} bytes, over the limit of {} for ceph.conf".format(
                    safeio.one_line(conf), info.st_size, safeio.human_size(safeio.LIMITS["ceph.conf"])))
        if keyring is not None:
            safeio.check_regular(keyring, "--keyring")
        candidates = config_mod.search_path(conf, environ, fs)
        path, source, refusal = config_mod.choose_conf(candidates)
        parsed = None
        verdict = {}
        if path and not refusal:
            try:
                parsed = config_mod.read_conf(path, verdict)
            except InputError as exc:
                if conf is not None:
                    raise
                refusal = str(exc)
    except InputError as exc:
        # the path may hold a key (a key in a directory name): the one line never shows it
        raise InputError(safeio.redact(str(exc), safeio.known_secrets())) from exc
    return candidates, path, source, refusal, parsed, verdict


def _observation(rbd_functions, rados_info, common_report, common_info, runtime_report):
    """Identification evidence: symbols (``rbd_functions``: librbd's _defined_functions),
    version triples, the version libceph-common carries."""
    version = source = sha = None
    if runtime_report.ceph_version:
        version, source = runtime_report.ceph_version, "libceph-common ceph_version_to_str()"
    if common_report.found and not common_report.error:
        try:
            markers = common_info.marked_strings if common_info is not None else ()
            sha = markers[0][len("ceph_ver__"):] if markers else None
            if version is None:
                strings = elf.find_strings(common_report.realpath, identify.version_string_pattern())
                if len(strings) == 1:
                    version, source = strings[0], "the version string in libceph-common's .rodata"
        except ElfError:
            pass

    def functions(names, library):
        return None if names is None else kn.names_of(names, library)

    return identify.Observation(
        librbd_functions=functions(rbd_functions, "librbd"),
        librados_functions=functions(_defined_functions(rados_info), "librados"),
        rbd_version=runtime_report.rbd_version, rados_version=runtime_report.rados_version,
        version_string=version, version_source=source, release_name=runtime_report.ceph_release,
        git_sha=sha, common_soname=common_report.soname)


def _needed_name(info, prefix, default):
    if info is None:
        return default
    for name in info.needed:
        if name.startswith(prefix):
            return name
    return default


def _runtime(scanner, rbd_report, rados_report, runtime, timeout, python, config_request=None):
    if not runtime:
        return RuntimeReport(attempted=False, skipped="disabled (--no-runtime)")
    if not scanner.fs.is_host:
        return RuntimeReport(attempted=False, skipped="static mode: files under --root are read, never loaded")
    if not rbd_report.found:
        return RuntimeReport(attempted=False, skipped="no librbd to load")
    if rbd_report.error:
        return RuntimeReport(attempted=False, skipped="librbd is not a readable ELF file" if " not a usable shared library: "
                             not in rbd_report.error else "librbd is not a usable shared library")
    for lib in (rbd_report, rados_report):
        if lib.found and scanner.host_arch and (lib.elf_class, lib.arch) != scanner.host_arch:
            return RuntimeReport(attempted=False, skipped="{} is {}-bit {}, this interpreter is {}-bit {}: read statically, not loaded".format(
                os.path.basename(lib.path), lib.elf_class, lib.arch, scanner.host_arch[0], scanner.host_arch[1]))
    rados_path = rados_report.path if rados_report.chosen_by == "explicit" else None
    args = (rbd_report.path, rados_path, matrix.known_symbol_names(), [f.mask for f in kn.features()], config_request)
    early, scanner.early = scanner.early, None
    if early is not None and early.key == probe.probe_key(rbd_report.path, rados_path, timeout, python):
        answer, error = probe.finish_probe(early, *args, meanwhile=_prepare_knowledge)
    else:
        if early is not None:
            early.cancel()
        answer, error = probe.probe_libraries(*args, timeout=timeout, python=python)
    return probe.runtime_report(answer, error)


def _prepare_knowledge():
    """What identification and the matrix will read from the knowledge base, built while the
    probe child works (each is cached): the answer is then turned into a report sooner."""
    try:
        identify.prepare()
        kn.capabilities()
        config_mod.prepare()
    except ProbeError:
        pass                  # raised again where it is used, and reported there


def _start_early_probe(scanner, librbd, librados, runtime, timeout, python):
    """Start the probe child before the static reading, for the files the scan will choose.

    Start-up (bench/bench_startup.py): the child's interpreter start and dlopen then overlap
    this process's ELF reading and identification (on a second core).  The child is told the
    files only and dlopens them as its run would; the whole request follows from ``_runtime``
    once the scan made it.  ``_runtime`` checks the guess (``probe.probe_key``): a child
    started for other files is killed unread and the probe runs again, and one the scan does
    not need (an unreadable or foreign librbd) is killed, so the report is the same either
    way.  Nothing is started for --no-runtime or --root, when a path given cannot be used (the
    scan reports that) or is not a shared object of this machine's architecture.  A librbd whose
    header is sound but whose tables the ELF reader rejects is dlopened by this child (and killed
    when the scan skips the runtime probe), where it used to be left unloaded.
    """
    from .errors import ProbeError
    if not runtime or not scanner.fs.is_host:
        return None
    try:
        if librbd:
            locate.check_explicit(librbd, "--librbd")
            rbd_path = os.path.abspath(librbd)
            if not scanner.accept(rbd_path)[0]:
                return None             # not a shared object of this machine: never loaded early
        else:
            chosen, _ = locate.choose(locate.search_order(kn.soname("librbd"), scanner.ctx), scanner.accept)
            if chosen is None:
                return None
            rbd_path = chosen.path
        rados_path = None
        if librados:
            locate.check_explicit(librados, "--librados")
            rados_path = os.path.abspath(librados)
        return probe.start_probe(rbd_path, rados_path, timeout, python)
    except (ProbeError, OSError, ValueError):
        return None                     # the scan meets the same problem and reports it
