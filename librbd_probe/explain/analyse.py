"""Findings x this host's report -> cause, evidence here, confidence, fix (pure: no I/O).

The signatures (patterns, generic cause and fix, sources) are data in
``knowledge/data/errors.json``, the facts the analyses use (kernels, releases, key types,
module paths, build tags, the binding create calls) in ``knowledge/data/explain.json``, each
with its source; release, symbol and feature facts are asked of the knowledge layer.  Each analysis starts from the signature's cause and confidence and may change them
only with evidence: the text around the message (the context the matcher kept), or what this
host shows (the report and ``HostContext``, gathered by the I/O edge in ``hostinfo``).

The confidence rule: ``high`` when the message itself names the cause (or the host decides
it), ``medium`` when the message points to one cause but the host cannot confirm it,
``low`` when it is only the likeliest of several, ``undecided`` when the text does not decide:
then the finding names the candidates and what would decide (``decides``) instead of
picking one.  A bare errno is never more than ``low`` on its own.
"""
import base64
import binascii
import errno as errno_mod
import os
import re

from .. import knowledge as kn
from ..model import Record, SCHEMA_VERSION, to_plain

CONFIDENCES = ("high", "medium", "low", "undecided")


class HostContext(
        metaclass=Record,
        fields="functions copies kernel_release bindings kernel config_origin environment qemu_modules platform",
        defaults=(None, None, None, (), None, None, None, None, None)):
    """Evidence beyond the Report, collected by the I/O edge."""
    # Fields (immutable):
    #   functions: Optional[Dict[str, FrozenSet[str]]] = None  # "librbd"/"librados" -> exported C functions
    #   copies: Optional[Dict[str, FrozenSet[str] or None]] = None  # realpath of every candidate -> functions
    #   kernel_release: Optional[str] = None  # os.uname().release
    #   bindings: Tuple[Dict, ...] = ()  # bindings.find_bindings() results
    #   kernel: Optional[Dict] = None  # modules_dir (bool), rbd_config ("y"/"m"/"n"/None), config_source,
    #                                  #  rbd_module (path or None)
    #   config_origin: Optional[Dict[str, str]] = None  # option -> where its value comes from (sentence)
    #   environment: Optional[Dict[str, bool]] = None  # RBD_FORCE_ALLOW_V1 / CEPH_ARGS set or not
    #   qemu_modules: Optional[Tuple[str, ...]] = None  # block-rbd modules found (None: not looked)
    #   platform: Optional[str] = None  # sys.platform of this host
    __slots__ = ()


class Finding(
        metaclass=Record,
        fields="signature family title line count match values cause evidence fix source "
        "cause_id confidence decides candidates last_line first_time last_time related",
        defaults=(None, "undecided", "", (), None, None, None, ()),
        lines=("title", "match", "cause", "evidence", "fix", "decides", "related")):
    """One signature found in the text, explained against this host (its sentences and the
    text it quotes one line each: model.line_text)."""
    # Fields (immutable):
    #   signature: str  # id in data/errors.json
    #   family: str
    #   title: str
    #   line: int  # 1-based line of the first occurrence in the original text
    #   count: int  # occurrences with the same key values
    #   match: str  # the matched text (trimmed)
    #   values: Dict[str, Any]  # what the pattern captured, decoded
    #   cause: str
    #   evidence: Tuple[str, ...]  # what the text around it and this host show
    #   fix: Tuple[str, ...]
    #   source: str
    #   cause_id: str  # short id of the cause ("doubled-client-prefix"; "bare-errno" when undecided)
    #   confidence: str  # high | medium | low | undecided
    #   decides: str  # what would decide it (a command, a debug level); "" when decided
    #   candidates: Tuple[str, ...]  # cause ids still possible when undecided
    #   last_line: int
    #   first_time, last_time: Optional[str]  # timestamps of the first and last occurrence, as written
    #   related: Tuple[str, ...]  # nearby lines this finding explains (a bare errno after it)
    __slots__ = ()

    def to_dict(self):
        return to_plain(dict(self._asdict()))


class Explanation(
        metaclass=Record,
        fields="source host findings notices lines",
        defaults=((), None),
        lines=("notices",)):
    # Fields (immutable):
    #   source: str  # "argument", "standard input" or the file name
    #   host: Dict[str, Any]  # summary of the host the findings were explained against
    #   findings: Tuple[Finding, ...]
    #   notices: Tuple[str, ...]  # what was not examined whole (long lines, a truncated stream)
    #   lines: Optional[int]  # lines read
    __slots__ = ()

    @property
    def matched(self):
        return bool(self.findings)

    def to_dict(self):
        return {"schema_version": SCHEMA_VERSION, "source": self.source, "host": to_plain(self.host),
                "matched": self.matched, "findings": [f.to_dict() for f in self.findings],
                "notices": list(self.notices), "lines": self.lines}


def _doc():
    return kn.load("errors.json")


def _facts(name):
    return (kn.load("explain.json").get("facts") or {}).get(name) or {}


# --- host facts used by the templates -------------------------------------------------------

class _Host(object):
    """Read-only views of the report plus the knowledge base, for the templates."""

    def __init__(self, report, context):
        self.report = report
        self.context = context or HostContext()
        self.release = report.release or {}
        self.facts = self.release.get("facts") or {}
        self._features = None

    # release
    @property
    def version(self):
        rel = self.release
        return rel.get("version") or rel.get("min")

    def release_label(self):
        rel = self.release
        if rel.get("version"):
            return "Ceph {}{}".format(rel["version"], " " + rel["codename"] if rel.get("codename") else "")
        if rel.get("min"):
            return "Ceph {}{}{}".format(rel["min"], " up to (not including) " + rel["before"] if rel.get("before") else " or later",
                                        " (" + rel["codename"] + ")" if rel.get("codename") else "")
        return "an unidentified Ceph release"

    def library(self, name):
        return self.report.libraries.get(name)

    def library_label(self, name):
        lib = self.library(name)
        if lib is None or not lib.found:
            return "no {} found".format(name)
        return lib.realpath or lib.path

    def fact(self, key):
        entry = self.facts.get(key) or {}
        return entry.get("value"), entry.get("source")

    # features (asked of the knowledge layer)
    @staticmethod
    def names(mask):
        return list(kn.feature_names(mask))

    @staticmethod
    def mask_of(names):
        mask, unknown = 0, []
        for name in names:
            feature = kn.feature(name)
            if feature is None:
                unknown.append(name)
            else:
                mask |= feature.mask
        return mask, unknown

    def known_features(self):
        """(mask this librbd knows, where that came from) or (None, reason)."""
        check = self.report.runtime.features_check if self.report.runtime else None
        if check:
            mask = 0
            for feature in kn.features():
                answer = check.get(str(feature.mask))
                if answer and answer.get("rc") != -errno_mod.EINVAL:
                    mask |= feature.mask
            return mask, "the library's own rbd_features_to_string answers"
        value, source = self.fact("rbd_features_all")
        if value is not None:
            return value, "RBD_FEATURES_ALL of {} ({})".format(self.release_label(), source)
        return None, source or "the release was not identified"

    @staticmethod
    def first_release_knowing(names):
        firsts = [f.first_release for f in kn.features() if f.name in names and f.first_release]
        return max(firsts, key=kn.version_key) if firsts else None

    # symbols
    @staticmethod
    def symbol_entry(symbol):
        """(library, kn.Function or None) of a C function name."""
        library = kn.library_of(symbol) or ("librados" if symbol.startswith("rados_") else "librbd")
        return library, kn.function(symbol)

    def exports(self, library, symbol):
        """True/False from the ELF file, else from the identified release, else None."""
        functions = (self.context.functions or {}).get(library)
        if functions is not None:
            return symbol in functions, "{}'s dynamic symbol table".format(os.path.basename(self.library_label(library)))
        _, entry = self.symbol_entry(symbol)
        if entry is not None and self.version:
            return kn.present_in(entry, self.version), "the knowledge base for {}".format(self.release_label())
        return None, "no symbol table read"

    @staticmethod
    def release_name(version):
        return kn.release_label(version) if version else "an unknown release"

    def config(self):
        return self.report.config or {}

    def config_where(self):
        conf = self.config()
        return "{} [{}]".format(conf.get("file") or "the client configuration", conf.get("client") or "client")

    # where a value comes from (item 4 of issue 10)
    def origin(self, key):
        """Sentence saying where the client's value of ``key`` comes from."""
        origins = self.context.config_origin or {}
        if key in origins:
            return origins[key]
        conf = self.config()
        if conf.get("file"):
            return "read by {} from {} (section not determined)".format(conf.get("read_by") or "librados", conf["file"])
        return "no ceph.conf was found: the library's compiled-in default"

    def where_set(self, key):
        """"FILE [section]" where ``key`` is (or would be) set: the section that sets it, else [client]."""
        origin = (self.context.config_origin or {}).get(key, "")
        match = re.match(r"set in (?P<where>.+ \[[^\]]+\])$", origin)
        if match:
            return match.group("where")
        conf = self.config()
        return "{} [client]".format(conf.get("file") or "the client's ceph.conf")

    def is_library_default(self, key):
        return (self.context.config_origin or {}).get(key, "").startswith("the library's compiled-in default") or (
            not self.context.config_origin and not self.config().get("file"))

    # the running kernel
    def kernel(self):
        return _parse_kernel(self.context.kernel_release)

    def kernel_facts(self):
        return self.context.kernel or {}


def _parse_kernel(release):
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    return tuple(int(p or 0) for p in match.groups()) if match else None




# --- analyses: each returns (evidence lines, host-specific fix lines) -------------------------

def _copies_lines(host, library, symbol):
    lines = []
    lib = host.library(library)
    copies = host.context.copies or {}
    for cand in (lib.candidates if lib else ()):
        if cand.chosen:
            continue
        functions = copies.get(cand.realpath)
        if functions is None:
            has = "not read"
        else:
            has = "exports {}".format(symbol) if symbol in functions else "lacks {}".format(symbol)
        lines.append("other copy: {} ({}, via {}{}): {}".format(
            cand.realpath, cand.file_version or "unversioned", cand.source,
            "" if cand.compatible else "; the loader skips it: " + (cand.note or "incompatible"), has))
    return lines



class Verdict(object):
    """What an analysis found: evidence and fixes, and (only with evidence) a changed cause."""
    __slots__ = ("evidence", "fix", "base_fix", "cause_id", "cause", "confidence", "decides", "candidates")

    def __init__(self, sig):
        self.evidence = []
        self.fix = []
        self.base_fix = sig["fix"]
        self.cause_id = sig.get("cause_id")
        self.cause = sig["cause"]
        self.confidence = sig.get("confidence", "undecided")
        self.decides = sig.get("decides", "")
        self.candidates = []

    def decide(self, cause_id, confidence, cause=None, decides=""):
        self.cause_id = cause_id
        self.confidence = confidence
        if cause:
            self.cause = cause
        self.decides = decides
        if confidence != "undecided":
            self.candidates = []

    def undecided(self, candidates, decides=None, cause=None):
        self.confidence = "undecided"
        self.candidates = list(candidates)
        if decides:
            self.decides = decides
        if cause:
            self.cause = cause


# --- the create path (item 3): which C call the binding made ------------------------------------

_FRAME = re.compile(r'File "(?P<path>[^"]{1,400})", line (?P<line>\d{1,7}), in (?P<function>[\w.<>]{1,100})')


def _binding_frames(context):
    """(binding entry, frame match) of the last rbd.py / rbd.pyx frame in the traceback context."""
    found = None
    for binding in _doc().get("bindings", ()):
        match = None
        for match in re.finditer(binding["pattern"], context or ""):
            pass
        if match and (found is None or match.start() > found[1].start()):
            found = (binding, match)
    return found


def _binding_lines(context, host):
    lines = []
    found = _binding_frames(context)
    if found:
        binding, match = found
        lines.append("the traceback runs through {} (line {}, {}): {}".format(
            match.group("path"), match.group("line"), match.group("function"), binding["note"]))
    for caller in _doc().get("callers", ()):
        if re.search(caller["pattern"], context or ""):
            lines.append("the caller is {}: it {}".format(caller["name"], caller["note"]))
    return lines


def _caller_of(context):
    for caller in _doc().get("callers", ()):
        if re.search(caller["pattern"], context or ""):
            return caller
    return None


def _exception_errno(text):
    """The errno a binding's make_ex turned into this exception (from the exception name)."""
    if re.search(r"FunctionNotSupported", text or ""):
        return errno_mod.ENOSYS
    if re.search(r"InvalidArgument", text or ""):
        return errno_mod.EINVAL
    return None


def _create_path(occ, host, verdict, mask, mask_origin):
    """Name the C function the binding called for RBD.create on this host, its arguments, its answer."""
    context = occ.context or ""
    if "create" not in context and "create" not in occ.match:
        return
    found = _binding_frames(context)
    kind = found[0]["kind"] if found else None
    era_source = "the traceback's frame"
    if kind is None:
        local = [b for b in host.context.bindings or () if b.get("module") == "rbd" and b.get("kind") in ("ctypes", "cython")]
        if not local:
            verdict.evidence.append("which binding made the call is not in the text (no rbd.py / rbd.pyx frame) and no "
                                    "Python rbd binding was examined on this host")
            return
        kind = local[0]["kind"]
        era_source = "this host's binding {}".format(local[0].get("path"))
    binding = [b for b in _doc().get("bindings", ()) if b["kind"] == kind][0]
    calls = (kn.load("explain.json").get("create_calls") or {}).get(kind) or {}
    caller = _caller_of(context)
    old_format = None
    if caller is not None and "old_format=False" in caller["note"]:
        old_format = False
    elif kind == "ctypes" and re.search(r"old_format\s*=\s*False", context):
        old_format = False
    elif calls.get("old_format_default") and caller is None and not re.search(r"old_format", context):
        old_format = True
    functions = (host.context.functions or {}).get("librbd")
    exports = (lambda name: (name in functions) if functions is not None else host.exports("librbd", name)[0])
    stripes = "stripe_unit=0, stripe_count=0"
    features = ("features={}".format(mask) if mask is not None else "features=?")
    if old_format:
        call, args = "rbd_create", "(ioctx, name, size, &order)"
    elif old_format is None:
        verdict.evidence.append("create path: the {} binding ({}) calls rbd_create when old_format=True, otherwise {}; the "
                                "text does not show which the caller passed".format(kind, era_source, calls.get("rule", "")))
        return
    elif kind == "ctypes":
        if exports("rbd_create3"):
            call, args = "rbd_create3", "(ioctx, name, size, {}, &order, {})".format(features, stripes)
        elif exports("rbd_create2"):
            call, args = "rbd_create2", "(ioctx, name, size, {}, &order)".format(features)
        else:
            call, args = None, None
    else:
        call, args = "rbd_create4", "(ioctx, name, size, opts: format=2, {}, order, {})".format(features, stripes)
    if call is None:
        verdict.evidence.append("create path: the ctypes binding needs rbd_create2, which this host's librbd does not "
                                "export: it raises FunctionNotSupported itself, no C call is made")
        return
    has = exports(call)
    returned = _exception_errno(occ.match)
    verdict.evidence.append(
        "create path: the {} binding ({}{}) called {}{}{}; this host's librbd ({}) {} {}{}".format(
            kind, era_source, ", old_format=False from {}".format(caller["name"]) if caller and old_format is False else "",
            call, args, " (features: {})".format(mask_origin) if mask is not None and mask_origin else "",
            host.library_label("librbd"), "exports" if has else ("does not export" if has is False else "may or may not export"),
            call, "; it returned -{} ({}), raised as {}".format(returned, errno_mod.errorcode.get(returned, returned),
                                                                 "FunctionNotSupported" if returned == errno_mod.ENOSYS else "InvalidArgument")
            if returned else ""))
    verdict.evidence.append("source of the create rule: {}".format(calls.get("source", binding.get("source"))))


# --- analyses -------------------------------------------------------------------------------

def _analyse_capability(sig, occ, host, verdict):
    cap_id = sig.get("capability")
    try:
        cap = host.report.capability(cap_id)
    except KeyError:
        cap = None
    verdict.evidence.extend(_binding_lines(occ.context, host))
    for symbol in sig.get("symbols", ()):
        library, entry = host.symbol_entry(symbol)
        first = host.release_name(entry.first) if entry else "an unknown release"
        if cap is not None and cap.status == "yes":
            verdict.evidence.append("this host's {} ({}, {}) exports {}: the failing process loaded a different "
                                    "librbd".format(library, host.library_label(library), host.release_label(), symbol))
            verdict.evidence.extend(_copies_lines(host, library, symbol))
            verdict.fix.append("make the failing process load {} (check LD_LIBRARY_PATH, LD_PRELOAD, a bundled "
                               "copy in its virtualenv or container)".format(host.library_label(library)))
        elif cap is not None and cap.status == "no":
            verdict.evidence.append("this host's {} ({}, {}) does not export {}, which first appeared in Ceph "
                                    "{}".format(library, host.library_label(library), host.release_label(), symbol, first))
            verdict.fix.append("upgrade librbd1/librados2 on this host to Ceph {} or later".format(first))
        else:
            verdict.evidence.append("cannot tell whether this host's librbd exports {}: {}".format(
                symbol, cap.reason if cap else "no such capability"))
            verdict.fix.append("{} first appeared in Ceph {}".format(symbol, first))


def _analyse_feature_mask(sig, occ, host, verdict):
    verdict.evidence.extend(_binding_lines(occ.context, host))
    known, known_source = host.known_features()
    verdict.evidence.append("this host's librbd: {} ({})".format(host.library_label("librbd"), host.release_label()))
    if known is not None:
        verdict.evidence.append("it knows feature bits 0x{:x} ({}) according to {}".format(
            known, ", ".join(host.names(known)) or "none", known_source))
    else:
        verdict.evidence.append("which feature bits it knows is not determined: {}".format(known_source))
    conf = host.config()
    configured = conf.get("rbd_default_features") or {}
    mask = configured.get("value")
    origin = host.origin("rbd_default_features")
    if mask is None:
        verdict.evidence.append("{} sets no rbd default features (read by {})".format(
            host.config_where(), conf.get("read_by") or "nothing"))
        default, default_source = host.fact("default_features")
        if default is not None:
            verdict.evidence.append("rbd default features = {} is then the library's compiled-in default ({})".format(
                default, default_source))
        if default is not None and known is not None and not default & ~known:
            verdict.evidence.append("without it librbd uses its built-in default 0x{:x} ({}; {}), which it knows: the caller "
                                    "passed its own mask, or the failing process loaded another librbd".format(
                                        default, ", ".join(host.names(default)) or "none", default_source))
            verdict.evidence.extend(_copies_lines(host, "librbd", "rbd_create"))
        if known is not None:
            verdict.fix.append("ask only for features in 0x{:x} ({}) on this host".format(known, ", ".join(host.names(known))))
        _create_path(occ, host, verdict, default, "the library's compiled-in default" if default is not None else None)
        return
    verdict.evidence.append("rbd default features = {} = 0x{:x} ({}): {}".format(
        configured.get("raw"), mask, ", ".join(host.names(mask)) or "none", origin))
    _create_path(occ, host, verdict, mask, origin)
    if known is None:
        verdict.decide(verdict.cause_id, "medium" if sig.get("confidence") != "high" else "high",
                       decides="which feature bits this librbd knows (the release was not identified)")
        return
    unknown = mask & ~known
    if unknown:
        names = host.names(unknown)
        verdict.evidence.append("of these, {} (0x{:x}) are unknown to this librbd: every create that uses the "
                                "configured mask gets -ENOSYS here".format(", ".join(names), unknown))
        verdict.decide("features-unknown-to-librbd", "high")
        first = host.first_release_knowing(names)
        if first:
            verdict.fix.append("upgrade librbd1/librados2 on this host to Ceph {} or later (the first release that "
                               "knows {})".format(host.release_name(first), ", ".join(names)))
        verdict.fix.append("or set `rbd default features = {}` ({}) in {}{}".format(
            mask & known, ", ".join(host.names(mask & known)) or "no features", host.where_set("rbd_default_features"),
            " (no file sets it now: {} is the library's own default)".format(mask)
            if host.is_library_default("rbd_default_features") else ""))
    else:
        verdict.evidence.append("every {} feature is known to this librbd: the failing process passed its own "
                                "mask or loaded another librbd".format(
                                    "default" if host.is_library_default("rbd_default_features") else "configured"))
        verdict.evidence.extend(_copies_lines(host, "librbd", "rbd_create"))


def _format1_policy_lines(host, verdict):
    policy, policy_source = host.fact("format1_create")
    if policy is None:
        verdict.evidence.append("whether this host's librbd ({}) refuses format 1 is not known: {}".format(
            host.release_label(), policy_source or "release not identified"))
        return None
    if str(policy).startswith("refused"):
        verdict.evidence.append("this host's librbd ({}, {}) refuses format 1 creation ({})".format(
            host.library_label("librbd"), host.release_label(), policy_source))
        env = host.context.environment or {}
        if env.get("RBD_FORCE_ALLOW_V1") is not None:
            verdict.evidence.append("RBD_FORCE_ALLOW_V1 is {} in this environment{}".format(
                "set" if env["RBD_FORCE_ALLOW_V1"] else "not set",
                " (librbd then creates format 1 images anyway)" if env["RBD_FORCE_ALLOW_V1"] else ""))
        return True
    verdict.evidence.append("this host's librbd ({}, {}) still creates format 1 images ({}): the failing process "
                            "loaded another librbd".format(host.library_label("librbd"), host.release_label(), policy_source))
    verdict.evidence.extend(_copies_lines(host, "librbd", "rbd_create"))
    return False


def _format_lines(host, verdict):
    fmt = (host.config().get("rbd_default_format") or {})
    if fmt.get("raw") is not None:
        verdict.evidence.append("rbd default format = {}: {}{}".format(
            fmt.get("raw"), host.origin("rbd_default_format"),
            "; rbd_create (what RBD.create(old_format=True) calls) then makes format 1 images" if fmt.get("value") == 1 else ""))
        if fmt.get("value") == 1:
            verdict.fix.append("set `rbd default format = 2` in {}".format(host.where_set("rbd_default_format")))
        return fmt.get("value")
    default, source = host.fact("default_format")
    if default is not None:
        verdict.evidence.append("rbd default format is not set; this release defaults to {} ({})".format(default, source))
    return default


def _binding_defaults(host, verdict):
    for binding in host.context.bindings or ():
        if binding.get("module") == "rbd" and binding.get("old_format_default") is not None:
            verdict.evidence.append("the rbd binding {} ({}) defaults RBD.create to old_format={}".format(
                binding.get("path"), binding.get("kind"), binding.get("old_format_default")))
            if binding.get("old_format_default"):
                verdict.fix.append("pass old_format=False to RBD.create (the binding {} defaults to True)".format(binding.get("path")))


def _analyse_format1(sig, occ, host, verdict):
    verdict.evidence.extend(_binding_lines(occ.context, host))
    refuses = _format1_policy_lines(host, verdict)
    fmt = _format_lines(host, verdict)
    _binding_defaults(host, verdict)
    if sig["id"] == "create.einval":
        _create_path(occ, host, verdict, (host.config().get("rbd_default_features") or {}).get("value"),
                     host.origin("rbd_default_features"))
        if "Format 1 image creation unsupported" in (occ.context or ""):
            verdict.decide("format1-refused", "high")
        elif refuses and fmt == 1:
            verdict.decide("format1-refused", "medium", decides="the librbd line before the exception: \"Format 1 image "
                           "creation unsupported\" confirms it")
        else:
            verdict.undecided(["format1-refused", "invalid-feature-combination", "invalid-order-or-striping"],
                              cause="librbd returned -EINVAL from the create call (make_ex maps errno 22 to "
                                    "InvalidArgument); the text does not say which argument it refused.")


def _analyse_binding_old_format(sig, occ, host, verdict):
    verdict.evidence.extend(_binding_lines(occ.context, host))
    for binding in host.context.bindings or ():
        if binding.get("module") == "rbd" and binding.get("old_format_default") is not None:
            verdict.evidence.append("this host's rbd binding {} ({}) defaults RBD.create to old_format={}".format(
                binding.get("path"), binding.get("kind"), binding.get("old_format_default")))
    if not any(b.get("module") == "rbd" for b in host.context.bindings or ()):
        verdict.evidence.append("no Python rbd binding was examined on this host")
    verdict.fix.append("call RBD.create(..., old_format=False, features=...)")


_HOW_LOADED = (
    (re.compile(r"ImportError|ModuleNotFoundError"), "a Python extension module failed at import"),
    (re.compile(r"symbol lookup error"), "the program started, and the loader failed when the function was first called (lazy binding)"),
    (re.compile(r"OSError|dlopen|Failed to open module|failed to load"), "the library or module was opened with dlopen (ctypes, a plugin or a QEMU module)"),
)


def _symbol_lines(host, verdict, symbol, obj, line):
    for pattern, how in _HOW_LOADED:
        if pattern.search(line):
            verdict.evidence.append("how: {}".format(how))
            break
    library, entry = host.symbol_entry(symbol)
    if entry is None:
        verdict.evidence.append("{} is not a C function of any {} release this tool knows (a private symbol, or newer "
                                "than its knowledge base)".format(symbol, library))
    else:
        removed = entry.removed
        # A function first seen in a Debian build carries a note: the exact first release
        # between the two known builds is not verified, so say "by", not "in".
        verdict.evidence.append("{} is a {} function first released {} Ceph {}{}{}".format(
            symbol, library, "by" if entry.note or not entry.exact else "in", host.release_name(entry.first),
            " ({})".format(entry.note) if entry.note else "",
            "; removed in {}".format(host.release_name(removed)) if removed else ""))
    if obj:
        verdict.evidence.append("the object that needs it: {}".format(obj))
    return library, entry


def _analyse_symbol(sig, occ, host, verdict):
    symbol = occ.groups["symbol"]
    obj = occ.groups.get("object")
    library, entry = _symbol_lines(host, verdict, symbol, obj, occ.text or occ.match)
    has, how = host.exports(library, symbol)
    lib_label = host.library_label(library)
    if has is None:
        verdict.evidence.append("whether this host's {} ({}) exports it is unknown ({})".format(library, lib_label, how))
    elif has:
        verdict.evidence.append("this host's {} ({}, {}) exports {} ({}): the failing process loaded a different copy".format(
            library, lib_label, host.release_label(), symbol, how))
        copies = _copies_lines(host, library, symbol)
        verdict.evidence.extend(copies or ["no other copy of {} was found where the loader looks on this host".format(library)])
        verdict.fix.append("make the process load {} (LD_LIBRARY_PATH, RPATH/RUNPATH of {}, a bundled copy)".format(
            lib_label, obj or "the program"))
    else:
        verdict.evidence.append("this host's {} ({}, {}) does not export {} ({})".format(
            library, lib_label, host.release_label(), symbol, how))
        if entry is not None:
            verdict.fix.append("upgrade {}{} on this host to Ceph {} or later".format(
                library, "1" if library == "librbd" else "2", host.release_name(entry.first)))
        verdict.fix.append("or use the build of {} made for {}".format(obj or "the program", host.release_label()))


def _analyse_foreign_symbol(sig, occ, host, verdict):
    """dyld / musl: the same question as undefined symbol, asked of a loader this host does not run."""
    symbol = occ.groups["symbol"]
    library, entry = _symbol_lines(host, verdict, symbol, occ.groups.get("object"), occ.match)
    loader = "macOS dyld" if sig["id"] == "loader.dyld-symbol" else "the musl loader"
    has, how = host.exports(library, symbol)
    verdict.evidence.append("the message comes from {}; this host ({}) {}".format(
        loader, host.context.platform or "platform not given",
        "is not where it failed: its {} ({}) {} {}".format(
            library, host.library_label(library), "exports" if has else "does not export", symbol) if has is not None
        else "has no readable {}".format(library)))
    if entry is not None:
        verdict.fix.append("the library the binding loads must be Ceph {} or later (the first release with {})".format(
            host.release_name(entry.first), symbol))


def _analyse_missing_library(sig, occ, host, verdict):
    soname = occ.groups.get("soname", "librbd")
    library = "librados" if soname.startswith("librados") else "librbd"
    lib = host.library(library)
    if lib is not None and lib.found:
        verdict.evidence.append("on this host the loader finds {} at {} (via {}): the failing process searched elsewhere "
                                "(another root, container, or a cleared LD_LIBRARY_PATH)".format(
                                    library, lib.realpath, lib.chosen_by))
    else:
        verdict.evidence.append("this host has no {} where the loader looks".format(library))
        for cand in (lib.candidates if lib else ()):
            verdict.evidence.append("a copy exists at {}{}".format(
                cand.realpath, "" if cand.compatible else " but the loader skips it: " + (cand.note or "incompatible")))
        if lib is not None and not lib.candidates:
            verdict.evidence.append("no copy of {} anywhere this tool searched".format(library))


def _analyse_foreign_library(sig, occ, host, verdict):
    name = occ.groups.get("name", "")
    needed = re.search(r"\(needed by (?P<by>[^)]{1,400})\)", occ.text or "")
    if re.match(r"lib(?:rbd|rados)\b", name):
        verdict.decide("ceph-library-missing", "high",
                       cause="{} is not installed where this loader looks{}.".format(
                           name, " (needed by {})".format(needed.group("by")) if needed else ""))
        lib = host.library("librados" if name.startswith("librados") else "librbd")
        if lib is not None and lib.found:
            verdict.evidence.append("this host's glibc loader finds {} at {}: the failing program runs in another "
                                    "root (a musl/Alpine container or VM, or a Mac)".format(name, lib.realpath))
    else:
        verdict.decide("dependency-missing", sig.get("confidence", "high"),
                       cause="{}, a library the Ceph client or program depends on (not librbd/librados itself), is not "
                             "installed where the loader looks.".format(name))
        verdict.evidence.append("{} is not a Ceph library: install the package that provides it".format(name))
    if variants_text(occ):
        verdict.evidence.append(variants_text(occ))


def variants_text(occ):
    parts = []
    for name, values in sorted(occ.variants.items()):
        parts.append("other {} values in the same finding: {}".format(name, ", ".join(values)))
    return "; ".join(parts)


def _krbd_lines(host, image_mask, verdict):
    names = host.names(image_mask)
    krbd = host.report.krbd or {}
    supported = krbd.get("supported_features")
    if supported is None:
        verdict.evidence.append("this host's kernel RBD client: {}".format(krbd.get("reason") or "not examined"))
        return
    verdict.evidence.append("this host's kernel supports 0x{:x} ({})".format(supported, ", ".join(host.names(supported))))
    rejected = image_mask & ~supported
    if rejected:
        verdict.evidence.append("of the image's features, this kernel would reject {} (0x{:x})".format(
            ", ".join(host.names(rejected)), rejected))
        verdict.fix.append("rbd feature disable POOL/IMAGE {}".format(" ".join(reversed(host.names(rejected)))))
    else:
        verdict.evidence.append("this kernel supports all of {}: the message came from another host or an older kernel".format(
            ", ".join(names)))
    conf_mask = (host.config().get("rbd_default_features") or {}).get("value")
    if conf_mask is not None and conf_mask & ~supported:
        verdict.evidence.append("new images get rbd default features = {} ({}), which this kernel cannot map either".format(
            conf_mask, host.origin("rbd_default_features")))
        verdict.fix.append("for images meant for krbd set `rbd default features = {}` ({}) in {}".format(
            conf_mask & supported, ", ".join(host.names(conf_mask & supported)), host.where_set("rbd_default_features")))


def _analyse_krbd_mask(sig, occ, host, verdict):
    mask = int(occ.groups["mask"], 16)
    verdict.evidence.append("the image's unsupported features 0x{:x} are: {}".format(mask, ", ".join(host.names(mask))))
    _krbd_lines(host, mask, verdict)


def _analyse_krbd_names(sig, occ, host, verdict):
    names = [n for n in re.split(r"[\s,]+", occ.groups.get("names", "")) if n]
    if not names:
        verdict.evidence.append("the message names no features; `dmesg | tail` shows \"image uses unsupported features: 0x..\"")
        return
    mask, unknown = host.mask_of(names)
    verdict.evidence.append("rbd suggests disabling {} (0x{:x}){}".format(
        ", ".join(names), mask, "; unknown names: " + ", ".join(unknown) if unknown else ""))
    before = len(verdict.fix)
    _krbd_lines(host, mask, verdict)
    if occ.groups.get("spec"):
        verdict.fix[before:] = [f.replace("POOL/IMAGE", occ.groups["spec"]) for f in verdict.fix[before:]]


def _analyse_cluster_features(sig, occ, host, verdict):
    missing = int(occ.groups["missing"], 16)
    table = {entry["bit"]: entry for entry in _doc().get("cluster_features", ())}
    kernel = host.context.kernel_release
    needed = []
    for bit in range(64):
        if not missing & (1 << bit):
            continue
        entry = table.get(bit)
        if entry is None:
            verdict.evidence.append("missing bit {} (0x{:x}): not in this tool's table".format(bit, 1 << bit))
            continue
        needed.append(entry)
        verdict.evidence.append("missing bit {} = {}: needs Linux {} or Ceph {} clients; tunables profile {} is the "
                                "newest without it{}".format(
                                    bit, "/".join(entry["names"]), entry["kernel"], entry["client"], entry["profile"],
                                    "; " + entry["note"] if entry.get("note") else ""))
    if not needed:
        verdict.decide(verdict.cause_id, "medium", decides="ceph features (on an admin node) and the bit's name in "
                       "src/include/ceph_features.h")
        return
    newest = max(needed, key=lambda e: _parse_kernel(e["kernel"]))
    oldest = min(needed, key=lambda e: e["bit"])
    if sig.get("userspace"):
        client = max(needed, key=lambda e: kn.version_key(e["client"]))
        verdict.evidence.append("a userspace client needs Ceph {} or later for these".format(client["client"]))
        if host.version:
            verdict.evidence.append("this host's librados is {}: {}".format(
                host.release_label(), "new enough: the message came from another client (a container's own librados)"
                if kn.version_key(host.version) >= kn.version_key(client["client"]) else "older than that"))
        verdict.fix.append("upgrade the failing client's librados/ceph-common to Ceph {} or later".format(client["client"]))
        verdict.fix.append("or relax the cluster: `ceph osd crush tunables {}` (moves data, affects every client)".format(
            oldest["profile"]))
        return
    relax = "or relax the cluster: `ceph osd crush tunables {}` (the newest profile without {}; moves data, affects every " \
            "client)".format(oldest["profile"], "/".join(oldest["names"]))
    if kernel:
        running = _parse_kernel(kernel)
        if running and running >= _parse_kernel(newest["kernel"]):
            verdict.evidence.append("this host runs Linux {}, new enough for these: the message came from another host "
                                    "or an older boot".format(kernel))
        elif running:
            verdict.evidence.append("this host runs Linux {}, older than {}".format(kernel, newest["kernel"]))
        verdict.fix.append("boot Linux {} or later on the client (the first kernel with {})".format(
            newest["kernel"], "/".join(newest["names"])))
        verdict.fix.append(relax)
    else:
        verdict.evidence.append("the running kernel's release was not given")
        verdict.fix.append("boot Linux {} or later on the client".format(newest["kernel"]))
        verdict.fix.append(relax)


def _errno_name(number):
    return "{} = {} ({})".format(number, errno_mod.errorcode.get(number, "errno {}".format(number)), os.strerror(number))


def _candidates(number, kind):
    """Cause ids an errno can stand for in a kind of operation ("connect", "map", "other"), from the data."""
    entry = ((_doc().get("errno") or {}).get(str(number)) or {}).get("candidates") or {}
    return list(entry.get(kind) or entry.get("other") or ())


def _operation(line):
    if re.search(r"\bmap\b", line):
        return "map"
    if re.search(r"connect", line, re.I):
        return "connect"
    return "other"


def _analyse_errno(sig, occ, host, verdict):
    number = abs(int(occ.groups["errno"]))
    meaning = (_doc().get("errno") or {}).get(str(number))
    verdict.evidence.append(_errno_name(number))
    if meaning:
        verdict.evidence.append("in Ceph clients it can mean: " + meaning["meaning"])
    line = occ.text or occ.match
    verdict.cause = ("A bare errno {} without the message that produced it: the text around it does not name the cause, "
                     "and the same number means different things in different calls.".format(_errno_name(number)))
    if number == errno_mod.ENOSYS and re.search(r"creat", line):
        _analyse_feature_mask(sig, occ, host, verdict)
        verdict.decide("features-unknown-to-librbd", "low",
                       cause="ENOSYS from a create: librbd returns it for feature bits it does not know (the likeliest "
                             "of several; the text does not show the librbd line).",
                       decides=sig.get("decides"))
        return
    if number == errno_mod.ENXIO and re.search(r"\bmap\b", line):
        conf_mask = (host.config().get("rbd_default_features") or {}).get("value")
        if conf_mask is not None:
            _krbd_lines(host, conf_mask, verdict)
        verdict.undecided(_candidates(number, "map"), decides="dmesg | tail right after the map: "
                          "\"image uses unsupported features: 0x..\" decides it")
        return
    kind = _operation(line)
    if kind == "connect":
        verdict.undecided(_candidates(number, kind), decides="rerun with --debug-monc=10 --debug-auth=20 --debug-ms=1")
        return
    if kind == "map":
        candidates = _candidates(number, kind)
        ports = set(_mon_ports(occ.context or occ.text))
        if ports and "3300" not in ports and "kernel-msgr1-to-v2-port" in candidates:
            candidates.remove("kernel-msgr1-to-v2-port")
            verdict.evidence.append("the mon addresses given use port {} only: not the msgr2 port".format(", ".join(sorted(ports))))
        verdict.undecided(candidates, decides="dmesg | grep -E 'libceph|rbd' right after the map (feature set "
                          "mismatch, image uses unsupported features, socket errors); uname -r")
        return
    verdict.undecided(_candidates(number, kind))


def _entity_of_path(path):
    match = re.search(r"\.((?:client|osd|mds|mgr|mon)\.[\w.-]{1,100}?)\.keyring$", path or "")
    return match.group(1) if match else None


def _analyse_auth_doubled(sig, occ, host, verdict):
    name = occ.groups["name"]
    meant = name[len("client."):]
    verdict.evidence.append("the entity is {}: Ceph prefixed client. to an id that already had it; the key is "
                            "registered as {}".format(name, meant))
    flag = re.search(r"(?:--id[ =]|--user[ =]|ceph\.user\.name=|userID:? ?)(?P<id>client\.[\w.-]{1,100})", occ.context or "")
    if flag:
        verdict.evidence.append("the command line passes {} (as an id, not a name)".format(flag.group(0)))
    verdict.fix.append("use --id {} or --name {}".format(meant[len("client."):], meant))


def _analyse_auth_error(sig, occ, host, verdict):
    number = abs(int(occ.groups["errno"]))
    entity = occ.groups.get("entity", "ENTITY")
    verdict.evidence.append(_errno_name(number))
    verdict.decides = verdict.decides.replace("ENTITY", entity)
    verdict.base_fix = verdict.base_fix.replace("ENTITY", entity)
    keyring = re.search(r"--keyring[ =](?P<path>\S{1,400})", occ.context or "")
    if keyring and _entity_of_path(keyring.group("path")) and _entity_of_path(keyring.group("path")) != entity:
        verdict.evidence.append("the command gives --keyring {}, named for {}, while it authenticates as {}".format(
            keyring.group("path"), _entity_of_path(keyring.group("path")), entity))
        verdict.decide("keyring-of-another-entity", "medium",
                       cause="The keyring given holds another entity's key ({}) than the one the client authenticates as "
                             "({}).".format(_entity_of_path(keyring.group("path")), entity),
                       decides="the [section] names inside {}".format(keyring.group("path")))
        return
    if number in (errno_mod.EPERM, errno_mod.EACCES):
        verdict.undecided(_candidates(number, "connect"),
                          cause="The monitors rejected {}'s authentication: a wrong key, a keyring holding another "
                                "entity's key, an entity the cluster does not have, or auth settings that differ from the "
                                "cluster's. It is not a caps problem: caps are checked only after authentication."
                                .format(entity))
    elif number == errno_mod.EOPNOTSUPP:
        verdict.decide("no-keyring-for-entity", "low",
                       cause="No auth method in common: the client offers none it can use with the cluster, usually "
                             "because it found no keyring for {} (cephx disabled on its side).".format(entity),
                       decides="the lines before it (\"unable to find a keyring\"); ls -l the keyring path for {}".format(entity))
        verdict.candidates = ["no-keyring-for-entity", "auth-settings-disagree"]
    elif number == errno_mod.ETIMEDOUT:
        verdict.undecided(_candidates(110, "connect"), cause="Authentication of {} timed out: no monitor answered.".format(entity),
                          decides="the mon addresses the client uses (mon host, -m) and --debug-ms=1")
    else:
        verdict.undecided(_candidates(number, "connect"))


def _methods(text):
    return set(part.strip() for part in (text or "").split(",") if part.strip())


def _entity_in_command(context):
    """client.X from --id/--user X, --name/-n client.X in the command lines before a message."""
    match = re.search(r"(?:--id[ =]|--user[ =])(?P<id>[\w.-]{1,100})|(?:--name[ =]|-n )(?P<name>(?:client|osd|mds|mgr)\.[\w.-]{1,100})",
                      context or "")
    if not match:
        return None
    return match.group("name") or "client." + match.group("id")


def _analyse_auth_bad_method(sig, occ, host, verdict):
    entity = _entity_in_command(occ.context)
    if entity:
        verdict.evidence.append("the command authenticates as {}".format(entity))
        verdict.decides = verdict.decides.replace("ENTITY", entity)
        verdict.base_fix = verdict.base_fix.replace("ENTITY", entity)
    names = _facts("auth_methods").get("methods") or {}
    server, client = _methods(occ.groups.get("server")), _methods(occ.groups.get("client"))
    verdict.evidence.append("the monitor allows {}; this client offers {} ({})".format(
        ", ".join(names.get(m, m) for m in sorted(server)) or "nothing", ", ".join(names.get(m, m) for m in sorted(client)) or "nothing",
        _facts("auth_methods").get("source", "")))
    if server & client:
        verdict.undecided(["cephx-key-rejected", "keyring-of-another-entity", "entity-unknown", "global-id-reclaim"],
                          cause="The client offered a method the monitor allows (cephx) and the monitor still refused it: "
                                "the key is not the cluster's key for this entity, or the entity does not exist. It is "
                                "not a caps problem and not a missing auth method (on a cluster that refuses insecure "
                                "global_id reclaim, a client without that fix is refused the same way).")
        verdict.cause_id = "cephx-key-rejected"
    else:
        verdict.decide("no-keyring-for-entity", "medium",
                       cause="The monitor requires {} but the client offers only {}: the client has no key (no keyring "
                             "found) or its auth_client_required excludes it.".format(
                                 "/".join(names.get(m, m) for m in sorted(server)), "/".join(names.get(m, m) for m in sorted(client)) or "nothing"),
                       decides="the client's keyring path and auth_client_required in its ceph.conf")


def _analyse_auth_no_keyring(sig, occ, host, verdict):
    paths = occ.groups.get("paths")
    facts = _facts("keyring_notice")
    later = _after_match(occ) + [(n, t) for n, t in getattr(host, "seen", ()) if occ.line < n <= occ.line + _NEXT_LINES]
    failed = [m for m in facts.get("auth_failed", ()) if any(m in text for _, text in later)]
    # the command line may come before the output or, in orchestrators' error summaries, after it
    commands = " ".join([occ.context or "", occ.text or ""] + [text for _, text in later])
    given = re.search(r"(?:^|\s)(?P<flag>--key(?:file)?[ =]\S|-K \S|--keyring[ =]\S)", commands)
    if given and "--keyring" not in given.group("flag") and failed:
        verdict.evidence.append("the command gives the key itself ({} ...) and the cluster still refused it ({}): the "
                                "keyring search is not the cause".format(given.group("flag")[:-1].strip(), failed[0]))
        verdict.undecided(["cephx-key-rejected", "entity-unknown", "keyring-of-another-entity"],
                          cause="The key was passed on the command line, so the failed keyring search is only a notice; "
                                "the key given was rejected for the entity it was used with.",
                          decides="ceph auth get <entity> and compare its key with the one the command passes (the "
                                  "secret); the entity name the command uses (-n/--id)")
        return
    if given and "--keyring" not in given.group("flag"):
        verdict.evidence.append("the command gives the key itself ({} ...): librados logs the failed keyring search "
                                "anyway".format(given.group("flag")[:-1].strip()))
        verdict.decide("keyring-notice-with-key-given", "low",
                       cause="A notice, probably harmless: the key was given on the command line, and clients before "
                             "the fix still log the keyring search they did first.",
                       decides="the command's exit status: if it succeeded, this line is only noise")
    if paths:
        entity = _entity_of_path(paths.split(",")[0])
        verdict.evidence.append("searched: {}".format(", ".join(p for p in paths.split(",") if p)))
        if entity:
            verdict.evidence.append("the client connects as {} (the first keyring path is named for it)".format(entity))
            if entity.startswith("client.client."):
                verdict.evidence.append("the name has a doubled client. prefix")
    if re.search(r"missing keyring|no keyring found|keyring not found", occ.match) and not paths:
        verdict.evidence.append("the client looked for the entity's keyring in its keyring setting's paths and found none")
    if verdict.confidence == "low":
        return
    # the notice alone does not say the client failed for it: what the same command did next does
    further = [(n, text) for n, text in later if any(m in text for m in facts.get("got_further", ()))]
    if failed:
        verdict.evidence.append("the same command then failed to authenticate ({})".format(failed[0]))
    elif further:
        verdict.evidence.append("the same command went on past connecting (line {}: {}): the keyring search was not "
                                "what failed".format(further[0][0], further[0][1].strip()[:160]))
        verdict.decide("keyring-notice-with-key-given", "low",
                       cause="A notice, probably harmless here: librados logs its failed keyring search, but the key came "
                             "from elsewhere (--key, --keyfile, a key= option) and the command got further; the failure "
                             "is in the later step.",
                       decides="the later error line itself (see the other findings), and whether the command passes "
                               "--key/--keyfile")
    else:
        verdict.decide(verdict.cause_id, "medium",
                       decides="the lines after it: an authentication error (or 'couldn't connect') of the same command "
                               "confirms it; a later step (opening a pool, rbd map's sysfs write) means the key came from "
                               "elsewhere")


_NEXT_LINES = 10   # lines after a notice in which the same command's next step is looked for


def _after_match(occ):
    """(line number, text) of what follows the match: the rest of its own line, then the related lines."""
    own = occ.text or ""
    at = own.find(occ.match)
    rest = own[at + len(occ.match):] if at >= 0 else ""
    following = [(occ.line + i + 1, t) for i, t in enumerate((getattr(occ, "after", "") or "").split("\n")) if t]
    return [(occ.line, rest)] + following + [(n, t) for n, t in getattr(occ, "related_text", ()) if n >= occ.line]


def _analyse_auth_keyring_parse(sig, occ, host, verdict):
    key = occ.groups.get("key", "")
    if not key:
        verdict.decide("keyring-malformed", "medium",
                       cause="The keyring file {} cannot be parsed at all ({}): it is empty, truncated, or not in keyring "
                             "format (no [entity] section with a key = line).".format(occ.groups.get("path"), occ.groups.get("reason")),
                       decides="cat the keyring: an [entity] header and a base64 key line present?")
        return
    types = _facts("cephx_key_types")
    try:
        raw = base64.b64decode(key[:8] + "=" * (-len(key[:8]) % 4))
        key_type = str(raw[0] | (raw[1] << 8)) if len(raw) >= 2 else None
    except (binascii.Error, ValueError):
        key_type = None
    name = (types.get("types") or {}).get(key_type)
    verdict.evidence.append("the key's type (its first two bytes, {}): {} = {}".format(
        types.get("source", ""), key_type, name or "unknown"))
    if name == "aes256k":
        fact = _facts("aes256k_client")
        first = fact.get("first_release")
        verdict.decide("key-type-unsupported-by-librados", "medium",
                       cause="The key in {} is of type aes256k, which librados releases before {} cannot parse{}; the "
                             "keyring then counts as missing.".format(
                                 occ.groups.get("path"), first, " (first release not verified)" if fact.get("unverified") else ""),
                       decides="the librados release of the failing process (a bundled one in a container or snap) "
                               "against {}".format(first))
        verdict.evidence.append("source: {}".format(fact.get("source")))
        version = host.version
        if version:
            older = kn.version_key(version) < kn.version_key(first)
            verdict.evidence.append("this host's librados ({}) is {} {}: it {} parse this key".format(
                host.release_label(), "older than" if older else "not older than", first, "cannot" if older else "should"))
        verdict.fix.append("upgrade the failing client's Ceph libraries to {} or later, or give it a key of type aes "
                           "(ceph auth get-or-create-key with the legacy key type)".format(first))
    elif name == "aes":
        verdict.undecided(["malformed-key"], cause="The key is of type aes, which every librados parses: the key text "
                          "itself is damaged (truncated or edited).", decides="compare the val= text with ceph auth get {}"
                          .format(occ.groups.get("entity")))


def _analyse_connect_failed(sig, occ, host, verdict):
    number = occ.groups.get("errno")
    if number is None:
        line = occ.text or occ.match
        near = re.search(r"\((?P<errno>\d{1,3})\) [A-Z]|\[errno (?P<errno2>\d{1,3})\]|ret=-(?P<errno3>\d{1,3})|"
                         r"error code -?(?P<errno4>\d{1,3})", line)
        if near:
            number = near.group("errno") or near.group("errno2") or near.group("errno3") or near.group("errno4")
    if number is not None:
        number = abs(int(number))
        verdict.evidence.append(_errno_name(number))
        verdict.undecided(_candidates(number, "connect"))
    else:
        verdict.undecided(["cephx-key-rejected", "no-keyring-for-entity", "monitors-unreachable"])
    if re.search(r"\bclient\.client\.", occ.context or ""):
        verdict.evidence.append("a doubled client. prefix appears in the lines before it")
    _id_with_prefix(occ, verdict)


def _id_with_prefix(occ, verdict):
    """--id client.X on the failing command line: librados connects as client.client.X."""
    flag = re.search(r"(?:^|[\s\[])(?P<flag>--id[ =]|--user[ =])(?P<id>client\.[\w.-]{1,100})", " ".join(
        [occ.context or "", occ.text or ""]))
    if not flag:
        return
    verdict.evidence.append("the command passes {}{}: --id takes the id without its type, so the client connects as "
                            "client.{}".format(flag.group("flag"), flag.group("id"), flag.group("id")))
    verdict.decide("doubled-client-prefix", "medium",
                   cause="The command gives --id {0}: Ceph prefixes client. to the id, so it authenticates as "
                         "client.{0}, an entity that normally does not exist.".format(flag.group("id")),
                   decides="ceph auth ls | grep client.{0} (absent?); rerun with --id {1} or --name {0}".format(
                       flag.group("id"), flag.group("id")[len("client."):]))


def _analyse_msgr2_addrs(sig, occ, host, verdict):
    facts = _facts("msgr2_addrs")
    first = facts.get("first_release", "14.2.0")
    addrs = occ.groups.get("addrs") or ""
    verdict.evidence.append("the addresses: {}".format(addrs))
    if facts.get("syntax", "v2:") not in addrs:
        # not the msgr2 syntax at all: a name that did not resolve, a typo in mon_host / -m
        dns = re.search(r"server name not found: (?P<name>\S{1,200}) \((?P<why>[^)]{1,80})\)", occ.context or "")
        if dns:
            verdict.evidence.append("the line before: server name not found: {} ({})".format(dns.group("name"), dns.group("why")))
        verdict.undecided(["wrong-mon-address"],
                          decides="getent hosts {0} (does the name resolve where the client runs?); the mon_host / -m "
                                  "value the client was given".format(addrs.split(",")[0] or "<mon host>"),
                          cause="The monitor address '{}' is not in the msgr2 syntax ([v2:IP:3300,v1:IP:6789]); librados "
                                "could not parse or resolve it (a host name that does not resolve, a typo).".format(addrs))
        return
    version = host.version
    if version:
        if kn.version_key(version) >= kn.version_key(first):
            verdict.evidence.append("this host's librados ({}) parses them: the failing program carries an older Ceph "
                                    "client of its own (a snap, a container image)".format(host.release_label()))
        else:
            verdict.evidence.append("this host's librados ({}) is older than {}: it cannot parse them".format(
                host.release_label(), first))
            verdict.fix.append("upgrade librados2/ceph-common on this host to {} or later".format(host.release_name(first)))


_MON_ADDR = re.compile(r"(?:\[?v[12]:)?(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]{2,45}\]):(?P<port>\d{2,5})")


def _mon_ports(context):
    """Ports of the mon addresses given on the command line (-m / mon_host) in the context."""
    ports = []
    for flag in re.finditer(r"(?:-m|--mon[-_]host|mon[ _]host\s*=)\s*(?P<addrs>\S{1,600})", context or ""):
        ports.extend(m.group("port") for m in _MON_ADDR.finditer(flag.group("addrs")))
    return ports


def _kernel_msgr2_lines(host, verdict):
    first = _facts("kernel_msgr2").get("first_kernel", "5.11")
    running = host.kernel()
    if running is None:
        verdict.evidence.append("the running kernel's release was not given (msgr2 needs Linux {} or later)".format(first))
        return None
    new_enough = running >= _parse_kernel(first)
    verdict.evidence.append("this host runs Linux {}: {} ({})".format(
        host.context.kernel_release, "its kernel client can speak msgr2 with -o ms_mode=..." if new_enough else
        "older than {}, its kernel client speaks only msgr v1 (port 6789)".format(first),
        _facts("kernel_msgr2").get("source", "")))
    return new_enough


def _analyse_ms_mode(sig, occ, host, verdict):
    context = occ.context or ""
    ports = _mon_ports(context)
    ms_mode = re.search(r"ms_mode=(?P<mode>[\w-]{1,20})", context)
    if ports:
        verdict.evidence.append("the mon addresses given use port{} {}".format("s" if len(set(ports)) > 1 else "", ", ".join(sorted(set(ports)))))
    verdict.evidence.append("ms_mode given: {}".format(ms_mode.group("mode") if ms_mode else "none"))
    new_enough = _kernel_msgr2_lines(host, verdict)
    if ports and set(ports) == {"3300"} and not ms_mode:
        verdict.decide("v2-addresses-without-ms-mode", "high",
                       cause="Only v2 mon addresses (port 3300) were given and no ms_mode: the kernel client then uses "
                             "msgr v1 and rbd finds no v1 address for it.")
    elif ports and set(ports) == {"6789"} and ms_mode and ms_mode.group("mode") != "legacy":
        verdict.decide("ms-mode-with-v1-addresses", "high",
                       cause="ms_mode={} asks for msgr2 but only v1 mon addresses (port 6789) were given.".format(ms_mode.group("mode")))
    else:
        verdict.candidates = ["v2-addresses-without-ms-mode", "ms-mode-with-v1-addresses"]
    if new_enough is False:
        verdict.fix.append("this kernel cannot use ms_mode: give the v1 addresses (port 6789) or boot Linux {} or later".format(
            _facts("kernel_msgr2").get("first_kernel")))
    elif new_enough:
        verdict.fix.append("rbd map -o ms_mode=prefer-crc ... (this kernel supports it)")


def _analyse_v2_port_closed(sig, occ, host, verdict):
    new_enough = _kernel_msgr2_lines(host, verdict)
    if new_enough is False:
        verdict.evidence.append("if the message is from this host, its kernel cannot speak msgr2 at all: only the v1 "
                                "addresses (port 6789) work")
        verdict.fix.append("on this host: give rbd map the v1 mon addresses (port 6789)")
    elif new_enough:
        verdict.evidence.append("this kernel speaks msgr2 only when ms_mode is given; without it it uses v1 on any port")
        verdict.fix.append("on this host: rbd map -o ms_mode=prefer-crc, or the v1 addresses (port 6789)")


def _kernel_lines(host, verdict, release):
    """What this host's kernel and module tree say about the release named in the message."""
    facts = host.kernel_facts()
    running = host.context.kernel_release
    if not running:
        verdict.evidence.append("the running kernel's release was not given")
        return None
    if release != running:
        verdict.evidence.append("the message {}, this host runs {}: this host cannot decide it".format(
            "names kernel " + release if release else "names no kernel release", running))
        return None
    state = facts.get("rbd_config")
    verdict.evidence.append("this host (Linux {}): /lib/modules/{} {}; CONFIG_BLK_DEV_RBD {} ({}); rbd module file: {}".format(
        running, running, "exists" if facts.get("modules_dir") else "does not exist",
        {"y": "=y (built in)", "m": "=m (a module)", "n": "is not set"}.get(state, "unknown"),
        facts.get("config_source") or "no kernel config found", facts.get("rbd_module") or "none found"))
    return state


def _analyse_kmod_moddep(sig, occ, host, verdict):
    release = occ.groups.get("release")
    state = _kernel_lines(host, verdict, release)
    facts = host.kernel_facts()
    if state is not None or (release and release == host.context.kernel_release):
        if facts.get("modules_dir"):
            verdict.decide("lib-modules-not-visible", "high",
                           cause="This host has /lib/modules/{} but the failing modprobe did not see it: it ran where the "
                                 "host's module tree is not mounted (a container).".format(release))
        else:
            verdict.decide("kernel-modules-not-installed", "high",
                           cause="This host itself has no /lib/modules/{}: the running kernel's modules package is not "
                                 "installed.".format(release))


def _analyse_kmod_not_found(sig, occ, host, verdict):
    release = occ.groups.get("release")
    state = _kernel_lines(host, verdict, release)
    facts = host.kernel_facts()
    if state == "n":
        verdict.decide("kernel-without-rbd", "high", cause="This host's kernel is built without CONFIG_BLK_DEV_RBD.")
        return
    if state in ("m", "y") and facts.get("rbd_module"):
        verdict.decide("lib-modules-not-visible", "medium",
                       cause="This host's kernel has the rbd module ({}); the failing modprobe did not find it: it ran "
                             "where the host's /lib/modules is not mounted.".format(facts.get("rbd_module")))
        return
    alone = not re.search(r"modprobe|modinfo|insmod", occ.context or "")
    if occ.groups.get("dir") and alone:
        verdict.undecided(["kernel-without-rbd", "lib-modules-not-visible"],
                          cause="modprobe found no rbd module in {}; the line stands without the rest of modprobe's output, "
                                "which would show whether that directory's module index could be read at all (a "
                                "container without the host's /lib/modules prints 'could not open moddep file' first), so "
                                "the text does not tell a kernel without rbd from a container.".format(occ.groups.get("dir")))
        return
    if not occ.groups.get("dir"):
        verdict.undecided(["kernel-without-rbd", "lib-modules-not-visible"],
                          cause="modprobe found no rbd module; this wording does not say where it looked, so the text does "
                                "not tell a kernel without rbd from a container without the host's /lib/modules.")


def _analyse_kmod_insert(sig, occ, host, verdict):
    verdict.evidence.append("modprobe found a module file and the kernel refused it: {}".format(occ.groups.get("reason")))
    _kernel_lines(host, verdict, None)


def _analyse_goceph(sig, occ, host, verdict):
    name = occ.groups.get("name", "")
    gofile = occ.groups.get("gofile") or ""
    tags = _facts("goceph_build_tags")
    tag = gofile.rsplit("_", 1)[-1] if "_" in gofile else None
    names = [name] + [v for v in occ.variants.get("name", ()) if v != name]
    verdict.evidence.append("undeclared names: {}".format(", ".join(names)))
    if tag in (tags.get("tags") or ()):
        verdict.decide("headers-older-than-go-ceph-expects", "high",
                       cause="{}.go holds the go-ceph API of Ceph {}; the installed Ceph headers are older than {}, so cgo "
                             "does not find {}.".format(gofile, tag, tag, name))
        verdict.fix.append("go build -tags <the release of the installed headers> (older than {}), per {}".format(tag, tags.get("source")))
        return
    library, entry = host.symbol_entry(name) if re.match(r"(?:rbd|rados)_", name) else (None, None)
    if entry is not None:
        verdict.evidence.append("{} is first released in Ceph {}: the headers are older".format(name, host.release_name(entry.first)))
        has, how = host.exports(library, name)
        if has:
            verdict.evidence.append("this host's {} ({}) exports it: -dev headers of the same release would declare it".format(
                library, host.release_label()))
        verdict.decide("headers-older-than-go-ceph-expects", "high")
        verdict.fix.append("install {}-dev (or -devel) of Ceph {} or later, or build go-ceph with the tag of the installed "
                           "release".format(library, host.release_name(entry.first)))


def _analyse_ec(sig, occ, host, verdict):
    if sig["id"] == "ec.metadata-pool":
        verdict.candidates = ["image-metadata-on-ec-pool"]


def _analyse_qemu(sig, occ, host, verdict):
    modules = host.context.qemu_modules
    if modules is None:
        verdict.evidence.append("QEMU's rbd module was not looked for on this host")
    elif modules:
        verdict.evidence.append("this host has QEMU's rbd block module: {}: the failing QEMU is another build (a container, "
                                "a static build) or a QEMU of another version than the module".format(", ".join(modules)))
    else:
        verdict.evidence.append("no QEMU rbd block module on this host (looked for {}; {})".format(
            ", ".join(_facts("qemu_rbd_modules").get("paths", ())), _facts("qemu_rbd_modules").get("source", "")))


def _analyse_blocklist(sig, occ, host, verdict):
    verdict.evidence.append("{}: the previous lock owner was {}".format(_errno_name(abs(int(occ.groups["errno"]))),
                                                                        occ.groups.get("owner")))


def _analyse_python_binding(sig, occ, host, verdict):
    module = "rbd" if occ.groups.get("cls") in ("RBD", "Image", "Group") else "rados"
    local = [b for b in host.context.bindings or () if b.get("module") == module]
    for binding in local:
        verdict.evidence.append("this host's {} binding: {} ({})".format(module, binding.get("path"), binding.get("kind")))
    if not local:
        verdict.evidence.append("no Python {} binding was examined on this host".format(module))
    verdict.evidence.append("{}.{} is a method of the Python binding, not a C function: the C library may have it "
                            "while the binding does not".format(occ.groups.get("cls"), occ.groups.get("attr")))


def _analyse_python_module_missing(sig, occ, host, verdict):
    module = occ.groups.get("module") or occ.groups.get("attr") or ""
    module = "rbd" if module in ("rbd", "RBD", "Image") else ("rados" if module in ("Rados", "Ioctx") else module)
    local = [b for b in host.context.bindings or () if b.get("module") == module]
    for binding in local:
        verdict.evidence.append("this host's {} binding: {} ({}): the failing interpreter is another one (a virtualenv, "
                                "another Python version, a container)".format(module, binding.get("path"), binding.get("kind")))
    if not local:
        verdict.evidence.append("no Python {} binding was examined on this host".format(module))
    if sig["id"] == "binding.python-module-none":
        verdict.undecided(["python-binding-missing"])


def _analyse_qemu_librbd_feature(sig, occ, host, verdict):
    verdict.evidence.append("QEMU reports that the librbd it was built against lacks: {}".format(occ.groups.get("what")))
    if host.version:
        verdict.evidence.append("this host's librbd: {} (what QEMU was compiled against is fixed at its build time)".format(
            host.release_label()))


def _analyse_open_failed(sig, occ, host, verdict):
    number = abs(int(occ.groups.get("errno") or 0))
    verdict.evidence.append(_errno_name(number))
    verdict.evidence.append("opening a {} comes after the cluster connection: authentication had succeeded".format(
        occ.groups.get("what")))
    if number == 2:
        verdict.decide("image-or-pool-missing", "medium",
                       cause="The {} '{}' does not exist as this client names it (a typo, another namespace or "
                             "cluster).".format(occ.groups.get("what"), occ.groups.get("name")),
                       decides=sig.get("decides", ""))
    else:
        verdict.undecided(_candidates(number, "other"))


def _analyse_plugin(sig, occ, host, verdict):
    plugin = occ.groups.get("plugin")
    path = occ.groups.get("path")
    if path:
        verdict.evidence.append("the plugin file: {}".format(path))
    line = occ.text or ""
    unresolved = re.search(r"undefined symbol: (?P<sym>\S{1,300})", line)
    if unresolved:
        verdict.evidence.append("it fails to bind {}: a C++ symbol of librbd/libceph-common, so the plugin was built "
                                "against another build than the librbd that loads it".format(unresolved.group("sym").rstrip('"')))
    if plugin:
        verdict.fix.append("check that libceph_librbd_{}.so comes from the same package version as librbd".format(plugin))


def _analyse_open_enosys(sig, occ, host, verdict):
    verdict.undecided(_candidates(38, "other"))


def _analyse_rbd_cli_option(sig, occ, host, verdict):
    verdict.evidence.append("the option the rbd CLI does not know: {}".format(occ.groups.get("option")))
    if host.version:
        verdict.evidence.append("this host's Ceph client is {}: if the command ran here, compare with rbd --version "
                                "(a container may carry its own, older rbd)".format(host.release_label()))


def _analyse_csi_kernel(sig, occ, host, verdict):
    verdict.undecided(["kernel-lacks-cluster-features", "image-features-unsupported-by-kernel"])
    running = host.context.kernel_release
    if running and running != occ.groups.get("release"):
        verdict.evidence.append("the message names kernel {}, this host runs {}: this host cannot decide it".format(
            occ.groups.get("release"), running))


def _analyse_caps(sig, occ, host, verdict):
    verdict.evidence.append("{} opening {} {}".format(_errno_name(abs(int(occ.groups["errno"]))), occ.groups.get("what"),
                                                     occ.groups.get("name") or ""))
    entity = re.search(r"(?:--id[ =]|--user[ =])(?P<id>[\w.-]{1,100})|--name[ =]client\.(?P<name>[\w.-]{1,100})", occ.context or "")
    if entity:
        ident = entity.group("id") or entity.group("name")
        verdict.decides = verdict.decides.replace("client.ID", "client." + ident)
        verdict.base_fix = verdict.base_fix.replace("client.ID", "client." + ident)
    verdict.candidates = ["missing-caps", "not-primary"]


_ANALYSES = {
    "capability": _analyse_capability,
    "feature_mask": _analyse_feature_mask,
    "format1": _analyse_format1,
    "binding_old_format": _analyse_binding_old_format,
    "symbol": _analyse_symbol,
    "missing_library": _analyse_missing_library,
    "krbd_mask": _analyse_krbd_mask,
    "krbd_names": _analyse_krbd_names,
    "cluster_features": _analyse_cluster_features,
    "errno": _analyse_errno,
    "auth_doubled": _analyse_auth_doubled,
    "auth_error": _analyse_auth_error,
    "auth_bad_method": _analyse_auth_bad_method,
    "auth_no_keyring": _analyse_auth_no_keyring,
    "auth_keyring_parse": _analyse_auth_keyring_parse,
    "connect_failed": _analyse_connect_failed,
    "msgr2_addrs": _analyse_msgr2_addrs,
    "ms_mode": _analyse_ms_mode,
    "v2_port_closed": _analyse_v2_port_closed,
    "kmod_moddep": _analyse_kmod_moddep,
    "kmod_not_found": _analyse_kmod_not_found,
    "python_module_missing": _analyse_python_module_missing,
    "python_module_none": _analyse_python_module_missing,
    "qemu_librbd_feature": _analyse_qemu_librbd_feature,
    "open_failed": _analyse_open_failed,
    "kmod_insert": _analyse_kmod_insert,
    "foreign_symbol": _analyse_foreign_symbol,
    "foreign_library": _analyse_foreign_library,
    "goceph": _analyse_goceph,
    "ec": _analyse_ec,
    "qemu": _analyse_qemu,
    "blocklist": _analyse_blocklist,
    "python_binding": _analyse_python_binding,
    "plugin": _analyse_plugin,
    "open_enosys": _analyse_open_enosys,
    "rbd_cli_option": _analyse_rbd_cli_option,
    "csi_kernel": _analyse_csi_kernel,
    "caps": _analyse_caps,
}


def _values(occ):
    values = dict(occ.groups)
    if "mask" in values:
        values["mask"] = int(values["mask"], 16)
    if "errno" in values:
        values["errno"] = abs(int(values["errno"]))
    if "names" in values:
        values["names"] = [n for n in re.split(r"[\s,]+", values["names"]) if n]
    values.pop("text", None)
    values.pop("key", None)       # a key's text is a secret even when it cannot be parsed
    return values


def _fixes(verdict, sig):
    return tuple(verdict.fix) + (verdict.base_fix,)


def explain_occurrences(report, occurrences, source="text", context=None, notices=(), lines=None):
    """Explain what the matcher found against ``report``; an Explanation."""
    host = _Host(report, context)
    host.seen = sorted((occ.line, occ.text or occ.match) for occ in occurrences)
    findings = []
    for occ in occurrences:
        sig = occ.sig.doc
        verdict = Verdict(sig)
        _ANALYSES[sig["analysis"]](sig, occ, host, verdict)
        if verdict.confidence not in CONFIDENCES:
            raise ValueError("analysis {} gave confidence {!r}".format(sig["analysis"], verdict.confidence))
        if verdict.confidence == "undecided" and not verdict.decides:
            verdict.decides = sig.get("decides") or "the client log around this line at a higher debug level (debug rbd = 20)"
        findings.append(Finding(
            signature=sig["id"], family=sig["family"], title=sig["title"], line=occ.line, count=occ.count,
            match=occ.match, values=_values(occ), cause=verdict.cause, evidence=tuple(verdict.evidence),
            fix=_fixes(verdict, sig), source=sig["source"],
            cause_id=verdict.cause_id,
            confidence=verdict.confidence, decides=verdict.decides if verdict.confidence != "high" else "",
            candidates=tuple(verdict.candidates), last_line=occ.last_line, first_time=occ.first_time,
            last_time=occ.last_time, related=tuple(occ.related)))
    summary = {"librbd": host.library_label("librbd"), "librados": host.library_label("librados"),
               "release": host.release_label(), "mode": report.mode,
               "config_file": host.config().get("file"), "kernel_release": host.context.kernel_release}
    return Explanation(source=source, host=summary, findings=tuple(findings), notices=tuple(notices), lines=lines)
