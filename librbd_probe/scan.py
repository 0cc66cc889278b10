"""Put the pipeline together for one host or build root: locate -> elf -> probe -> matrix.

This is the I/O edge of the library API: it reads files, asks the loader's configuration and
starts the child, then hands plain evidence to the pure modules.
"""
import os
import sys

from . import config as config_mod
from . import elf, identify, kb, krbd, locate, matrix
from .errors import ElfError, LocateError
from .model import Candidate, LibraryReport, Problem, Report, RuntimeReport
from .rootfs import Root

ENV_LIBRBD = "LIBRBD_PROBE_LIBRBD"
ENV_LIBRADOS = "LIBRBD_PROBE_LIBRADOS"

_SYMBOL_PREFIXES = (b"rbd_", b"rados_", b"ceph_ver", b"_Z19ceph_")


def _interpreter_arch():
    """(class, machine) of the running interpreter: what dlopen here could accept."""
    try:
        info = elf.read_identity(os.path.realpath(sys.executable))
        return info.elf_class, info.machine
    except ElfError:
        return None


class _Scanner(object):
    """Holds what one scan has read, so no file is parsed twice."""

    def __init__(self, root, environ):
        self.root = root
        self.fs = Root(root)
        self.ctx = locate.search_context(self.fs, environ)
        self.host_arch = None if root else _interpreter_arch()
        self.headers = {}
        self.listings = {}
        self.realpaths = {}

    def realpath(self, path):
        """Root.realpath, once per path (every candidate is resolved several times)."""
        if path not in self.realpaths:
            self.realpaths[path] = self.fs.realpath(path)
        return self.realpaths[path]

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
            info = elf.read_elf(real, symbols=symbols, name_filter=_SYMBOL_PREFIXES, markers=markers,
                                defined_only=True)
        except ElfError as exc:
            return LibraryReport(name=name, found=True, path=path, realpath=real, chosen_by=source,
                                 candidates=candidates, size=_size(real), error=str(exc)), None
        functions = [s for s in info.symbols if s.defined and s.type in ("FUNC", "GNU_IFUNC")
                     and s.name.startswith(("rbd_", "rados_"))
                     and s.visibility in ("DEFAULT", "PROTECTED")]
        report = LibraryReport(
            name=name, found=True, path=path, realpath=real, chosen_by=source, soname=info.soname,
            arch=info.machine, elf_class=info.elf_class, byte_order=info.byte_order, size=info.size,
            build_id=info.build_id, needed=info.needed, runpath=info.runpath, rpath=info.rpath,
            version_definitions=info.version_definitions,
            defined_symbols=len({s.name for s in functions}), candidates=candidates)
        return report, info


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _defined_functions(info):
    if info is None:
        return None
    return frozenset(s.name for s in info.symbols
                     if s.defined and s.type in ("FUNC", "GNU_IFUNC")
                     and s.visibility in ("DEFAULT", "PROTECTED") and not s.version_hidden)


def _shadow_problems(lib):
    """A compatible copy of another version that the loader passes over, or that wins."""
    problems = []
    chosen = [c for c in lib.candidates if c.chosen]
    if not chosen:
        return problems
    winner = chosen[0]
    for cand in lib.candidates:
        if cand.chosen or not cand.compatible:
            continue
        if winner.source == "explicit":
            if cand.source not in ("extra", "ld.so.conf"):
                problems.append(Problem(
                    "explicit-choice." + lib.name, "info",
                    "{} was chosen explicitly ({}); the loader itself would use {} ({})".format(
                        lib.name, winner.realpath, cand.realpath, cand.file_version or "unversioned"),
                    None, ("loader candidate {} via {}".format(cand.path, cand.source),)))
                break
            continue
        if cand.file_version == winner.file_version and cand.source == "extra":
            continue
        where = "on the loader's path ({})".format(cand.source) if cand.source != "extra" else "outside the loader's path"
        problems.append(Problem(
            "shadowed-copy." + lib.name, "warning",
            "{} {} ({}) is {}; the loader uses {} ({})".format(
                lib.name, cand.realpath, cand.file_version or "unversioned", where,
                winner.realpath, winner.file_version or "unversioned"),
            "remove the stale copy or make sure every consumer loads the same one "
            "(LD_LIBRARY_PATH, RPATH/RUNPATH, ldconfig)",
            ("candidate {} via {}".format(cand.path, cand.source),
             "chosen {} via {}".format(winner.path, winner.source))))
    return problems


def scan(librbd=None, librados=None, root=None, runtime=True, timeout=15.0,
         environ=None, python=None, conf=None, client_id=None, client_name=None, sysfs="/sys"):
    """Scan the host (or ``root``) and return a Report.  Raises LocateError for bad paths."""
    environ = os.environ if environ is None else environ
    librbd = librbd or environ.get(ENV_LIBRBD) or None
    librados = librados or environ.get(ENV_LIBRADOS) or None
    if root is not None and not os.path.isdir(root):
        raise LocateError("{}: --root is not a directory".format(root))
    scanner = _Scanner(root, environ)
    problems = []

    rbd_report, rbd_info = scanner.library(
        "librbd", locate.LIBRBD_SONAME, "librbd.so", librbd,
        "--librbd" if librbd and librbd != environ.get(ENV_LIBRBD) else ENV_LIBRBD)
    rados_needed = _needed_name(rbd_info, "librados.so", locate.LIBRADOS_SONAME)
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

    if not rbd_report.found:
        problems.append(Problem("librbd-missing", "error",
                                "no librbd.so.1 found where the loader looks"
                                + (" under {}".format(root) if root else ""),
                                "install the Ceph RBD client library (Debian/Ubuntu: librbd1; "
                                "RHEL/Fedora: librbd1) or point --librbd at it"))
    if rbd_info is not None and not rados_report.found:
        problems.append(Problem("librados-missing", "error",
                                "librbd needs {} but the loader would not find it".format(rados_needed),
                                "install librados2, or fix LD_LIBRARY_PATH / RUNPATH"))
    for lib in libraries.values():
        if lib.error:
            problems.append(Problem("unreadable." + lib.name, "error", lib.error))
        problems.extend(_shadow_problems(lib))

    if conf is not None:
        locate.check_explicit(conf, "--conf")
    conf_candidates = config_mod.search_path(conf, environ, root)
    conf_path, conf_source = config_mod.choose_file(conf_candidates)
    config_request = {"path": conf_path, "id": client_id, "name": client_name, "keys": list(config_mod.KEYS)}
    runtime_report = _runtime(scanner, rbd_report, rados_report, runtime, timeout, python, config_request)
    if runtime_report.error:
        problems.append(Problem("runtime-failed", "error",
                                "runtime probe failed: " + runtime_report.error.get("message", "?"),
                                "see the static report; the library may be broken or hostile"))
    problems.extend(_loader_disagreement(runtime_report, libraries))

    evidence = matrix.Evidence(
        librbd_found=rbd_report.found,
        librbd_name=os.path.basename(rbd_report.path or "librbd"),
        librbd_realpath=rbd_report.realpath,
        librbd_symbols=_defined_functions(rbd_info),
        librbd_needed=rbd_report.needed,
        runtime=runtime_report,
        unreadable_reason=rbd_report.error)
    capabilities, cap_problems = matrix.capability_rows(evidence)
    problems.extend(cap_problems)

    release, release_problems = identify.identify(
        _observation(rbd_info, rados_info, common_report, common_info, runtime_report),
        {"releases": kb.releases()}, kb.symbols("librbd"), kb.symbols("librados"))
    problems.extend(release_problems)
    releases = kb.releases()
    facts = identify.release_facts(release, releases)
    release["facts"] = {key: {"value": value, "source": source} for key, (value, source) in sorted(facts.items())}
    capabilities = tuple(matrix.format1_row(c, facts, environ) if c.id == "create.format1" else c
                         for c in capabilities)
    feature_defs = kb.features()
    feature_caps, feature_problems = matrix.feature_rows(facts, feature_defs, runtime_report.features_check)
    problems.extend(feature_problems)
    if not rbd_report.found:
        feature_caps = tuple(c._replace(status="unknown", reason="no librbd found on this host") for c in feature_caps)
    capabilities += feature_caps

    config_section, config_problems = _config(runtime_report, conf_path, conf_source, conf_candidates,
                                              client_id, client_name, facts, feature_defs, releases)
    problems.extend(config_problems)
    krbd_section, krbd_problems = _krbd(sysfs, root, config_section, feature_defs)
    problems.extend(krbd_problems)
    return Report(mode="runtime" if runtime_report.attempted else "static",
                  root=os.path.abspath(root) if root else None, libraries=libraries,
                  runtime=runtime_report, capabilities=capabilities, problems=tuple(problems),
                  release=release, config=config_section, krbd=krbd_section)


def _observation(rbd_info, rados_info, common_report, common_info, runtime_report):
    """Identification evidence: symbols, version triples, the version libceph-common carries."""
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

    def functions(info, prefix):
        names = _defined_functions(info)
        return None if names is None else frozenset(n for n in names if n.startswith(prefix))

    return identify.Observation(
        librbd_functions=functions(rbd_info, "rbd_"), librados_functions=functions(rados_info, "rados_"),
        rbd_version=runtime_report.rbd_version, rados_version=runtime_report.rados_version,
        version_string=version, version_source=source, release_name=runtime_report.ceph_release,
        git_sha=sha, common_soname=common_report.soname)


def _config(runtime_report, conf_path, conf_source, candidates, client_id, client_name, facts,
            feature_defs, releases):
    """The client configuration, as librados read it in the child or as parsed here."""
    order = config_mod.section_order(client_id, client_name)
    section = {"file": conf_path, "found_via": conf_source, "searched": [p for p, _ in candidates],
               "client": order[0], "read_by": None, "values": {}}
    values = {}
    answer = runtime_report.config
    if answer and answer.get("create_rc") == 0:
        section["read_by"] = "librados (rados_create + rados_conf_read_file + rados_conf_get, no connection)"
        values = dict(answer.get("values") or {})
        if answer.get("read_rc") not in (0, None):
            section["read_rc"] = answer.get("read_rc")
    elif conf_path:
        section["read_by"] = "librbd_probe's ceph.conf parser (the library was not loaded)"
        try:
            with open(conf_path, encoding="utf-8", errors="replace") as handle:
                parsed = config_mod.parse_ceph_conf(handle)
        except OSError as exc:
            return dict(section, error="{}: {}".format(conf_path, exc.strerror)), ()
        for key in config_mod.KEYS:
            value = config_mod.lookup(parsed, key, order)
            if value is not None:
                values[key] = value
    else:
        section["read_by"] = "nothing: no ceph.conf found and the library was not loaded"
    section["values"] = {k: v for k, v in sorted(values.items()) if v != ""}
    known_mask = None
    check = runtime_report.features_check
    if check:
        known_mask = 0
        for feature in feature_defs:
            answer = check.get(str(feature["mask"]))
            if answer and answer.get("rc") != -22:
                known_mask |= feature["mask"]
    by_version = {r["version"]: r.get("codename") for r in releases}
    summary, problems = config_mod.analyse(section["values"], facts, feature_defs, by_version, known_mask)
    section.update(summary)
    return section, tuple(problems)


def _krbd(sysfs, root, config_section, feature_defs):
    if root:
        return {"supported_features": None, "reason": "static scan of a root: the running kernel is not the target's"}, ()
    mask, reason = krbd.read_supported(sysfs)
    section = {"supported_features": mask, "reason": reason}
    if mask is None:
        return section, ()
    section["names"] = config_mod.feature_names(mask, feature_defs)
    problems = []
    configured = (config_section.get("rbd_default_features") or {}).get("value")
    if configured is not None:
        rejected = configured & ~mask
        section["rejected_by_rbd_map"] = config_mod.feature_names(rejected, feature_defs)
        if rejected:
            problems.append(Problem(
                "krbd.unsupported-features", "warning",
                "images created with the configured default features cannot be mapped by this kernel: "
                "rbd map fails with \"image uses unsupported features: 0x{:x}\" ({})".format(
                    rejected, ", ".join(section["rejected_by_rbd_map"])),
                "disable those features on images meant for krbd (rbd feature disable IMAGE ...), use rbd-nbd, "
                "or upgrade the kernel"))
    return section, tuple(problems)


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
    if scanner.root:
        return RuntimeReport(attempted=False, skipped="static mode: files under --root are read, never loaded")
    if not rbd_report.found:
        return RuntimeReport(attempted=False, skipped="no librbd to load")
    if rbd_report.error:
        return RuntimeReport(attempted=False, skipped="librbd is not a readable ELF file")
    for lib in (rbd_report, rados_report):
        if lib.found and scanner.host_arch and (lib.elf_class, lib.arch) != scanner.host_arch:
            return RuntimeReport(attempted=False, skipped="{} is {}-bit {}, this interpreter is {}-bit {}: read statically, not loaded".format(
                os.path.basename(lib.path), lib.elf_class, lib.arch, scanner.host_arch[0], scanner.host_arch[1]))
    from . import probe  # subprocess/uuid only when something is really loaded
    symbols = matrix.known_symbol_names()
    answer, error = probe.probe_libraries(
        rbd_report.path, rados_report.path if rados_report.chosen_by == "explicit" else None,
        symbols, feature_masks=[1 << bit for bit in range(12)], config=config_request,
        timeout=timeout, python=python)
    if answer is None:
        return RuntimeReport(attempted=True, loaded=False, error=error)
    return RuntimeReport(
        attempted=True, loaded=bool(answer.get("loaded")), error=error,
        rbd_version=_triple(answer.get("rbd_version")), rados_version=_triple(answer.get("rados_version")),
        ceph_version=answer.get("ceph_version"), ceph_release=answer.get("ceph_release"),
        loaded_objects=tuple(answer.get("loaded_objects") or ()), symbols=answer.get("symbols") or {},
        features_check=answer.get("features_check"), config=answer.get("config"))


def _triple(value):
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def _loader_disagreement(runtime_report, libraries):
    """The child mapped a different copy than the static resolution predicted."""
    problems = []
    if not runtime_report.loaded:
        return problems
    loaded = {os.path.basename(p).split(".so")[0]: p for p in runtime_report.loaded_objects}
    for lib in libraries.values():
        if not lib.found or not lib.realpath:
            continue
        mapped = loaded.get(lib.name)
        if mapped and os.path.realpath(mapped) != lib.realpath:
            problems.append(Problem(
                "loader-disagrees." + lib.name, "warning",
                "the loader mapped {} but the static search chose {}".format(mapped, lib.realpath),
                "check LD_LIBRARY_PATH, LD_PRELOAD and RUNPATH of the requesting library"))
    return problems
