"""Error text x this host's report -> what happened, the evidence here, the fix (pure: no I/O).

The signatures (patterns, generic cause and fix, sources) are data in ``data/errors.json``;
release, symbol and feature facts come from the other data files.  This module only finds the
signatures in a text (one message, a traceback, a whole log whose tracebacks may be repr'd
lists of ``u'...'`` strings, as Cinder logs them) and fills sentence templates with what the
scan already found.  Anything the report does not hold (the symbol sets of other copies, the
kernel release, the Python bindings) arrives through ``HostContext``, gathered by the I/O edge
(``consumers.explain_context``).
"""
import errno as errno_mod
import os
import re

from . import kb
from .identify import present_in, version_key
from .model import SCHEMA_VERSION, record, to_plain

# A specific finding within this many lines of a generic errno form explains it already
# ("RBD image feature set mismatch" ... "rbd: map failed: (6) No such device or address").
_NEARBY_LINES = 3
_MAX_MATCH_CHARS = 240
# At most this many traceback lines are read back from an exception line.
_TRACEBACK_LINES = 200


class HostContext(record(
        "HostContext",
        "functions copies kernel_release bindings",
        (None, None, None, ()))):
    """Evidence beyond the Report, collected by the I/O edge."""
    # Fields (immutable):
    #   functions: Optional[Dict[str, FrozenSet[str]]] = None  # "librbd"/"librados" -> exported C functions
    #   copies: Optional[Dict[str, FrozenSet[str] or None]] = None  # realpath of every candidate -> functions
    #   kernel_release: Optional[str] = None  # os.uname().release
    #   bindings: Tuple[Dict, ...] = ()  # bindings.find_bindings() results
    __slots__ = ()


class Finding(record(
        "Finding",
        "signature family title line count match values cause evidence fix source")):
    """One signature found in the text, explained against this host."""
    # Fields (immutable):
    #   signature: str  # id in data/errors.json
    #   family: str
    #   title: str
    #   line: int  # 1-based line of the first occurrence in the original text
    #   count: int  # occurrences with the same captured values
    #   match: str  # the matched text (trimmed)
    #   values: Dict[str, Any]  # what the pattern captured, decoded
    #   cause: str
    #   evidence: Tuple[str, ...]  # what this host shows
    #   fix: Tuple[str, ...]
    #   source: str
    __slots__ = ()

    def to_dict(self):
        return to_plain(dict(self._asdict()))


class Explanation(record("Explanation", "source host findings")):
    # Fields (immutable):
    #   source: str  # "argument", "standard input" or the file name
    #   host: Dict[str, Any]  # summary of the host the findings were explained against
    #   findings: Tuple[Finding, ...]
    __slots__ = ()

    @property
    def matched(self):
        return bool(self.findings)

    def to_dict(self):
        return {"schema_version": SCHEMA_VERSION, "source": self.source, "host": to_plain(self.host),
                "matched": self.matched, "findings": [f.to_dict() for f in self.findings]}


# --- text normalisation -------------------------------------------------------------------

_ESCAPES = (("\\n", "\n"), ("\\t", "\t"), ("\\'", "'"), ('\\"', '"'), ("\\\\", "\\"))
_REPR_JOIN = re.compile(r"""(?:\\n)?['"],\s*u?['"]""")


def normalise(text):
    """(normalised text, line map): repr'd tracebacks unfolded into real lines.

    Cinder logs a traceback as ``[u'Traceback ...\\n', u'  File ...\\n', ...]`` on one line;
    that line is unfolded so patterns see the real message.  ``line_of[i]`` is the 1-based
    original line of normalised line i.
    """
    out_lines = []
    line_of = []
    for number, line in enumerate(text.splitlines(), 1):
        if "\\n" in line or "\\'" in line:
            line = _REPR_JOIN.sub("\n", line)
            for old, new in _ESCAPES:
                line = line.replace(old, new)
        for part in line.split("\n"):
            out_lines.append(part)
            line_of.append(number)
    return "\n".join(out_lines), line_of


def _line_index(text):
    starts = [0]
    for match in re.finditer("\n", text):
        starts.append(match.end())
    return starts


def _line_at(starts, offset):
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- matching -------------------------------------------------------------------------------

class _Hit(record("_Hit", "signature norm_line line match groups")):
    __slots__ = ()


def find_signatures(text, signatures=None):
    """Every occurrence of every signature: a list of _Hit, in text order (pure)."""
    signatures = kb.error_signatures() if signatures is None else signatures
    norm, line_of = normalise(text)
    starts = _line_index(norm)
    hits = []
    for sig in signatures:
        for pattern in sig["patterns"]:
            for match in re.finditer(pattern, norm):
                if sig.get("analysis") == "errno" and not _plausible_errno(match):
                    continue
                index = _line_at(starts, match.start())
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
                hits.append(_Hit(sig, index, line_of[index] if index < len(line_of) else index + 1,
                                 " ".join(match.group(0).split())[:_MAX_MATCH_CHARS], groups))
    hits.sort(key=lambda h: (h.norm_line, h.signature["id"]))
    specific = [h for h in hits if not h.signature.get("generic")]
    errno_doc = kb.load("errors.json").get("errno") or {}
    kept = []
    for hit in hits:
        if hit.signature.get("generic") and any(_explains(s, hit, errno_doc) for s in specific):
            continue
        kept.append(hit)
    return kept, norm


def _explains(specific, generic, errno_doc):
    """Does a specific finding already explain this bare errno (same line, or a related one nearby)?"""
    if specific.norm_line == generic.norm_line:
        return True
    if abs(specific.norm_line - generic.norm_line) > _NEARBY_LINES:
        return False
    number = str(abs(int(generic.groups.get("errno", 0))))
    return specific.signature["id"] in (errno_doc.get(number) or {}).get("see", ())


def _plausible_errno(match):
    """'(6) No such device or address' only when the text is strerror(6), not any '(3) Foo'."""
    groups = match.groupdict()
    try:
        number = abs(int(groups["errno"]))
    except (KeyError, TypeError, ValueError):
        return False
    if not 0 < number < 4096:
        return False
    text = groups.get("text")
    if text is None:
        return True
    return os.strerror(number).lower().startswith(text.strip().lower()[:12])


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

    # features
    def features(self):
        if self._features is None:
            self._features = kb.features()
        return self._features

    def names(self, mask):
        known = {f["bit"]: f["name"] for f in self.features()}
        return [known.get(bit, "bit{}".format(bit)) for bit in range(64) if mask & (1 << bit)]

    def mask_of(self, names):
        by_name = {f["name"]: f["mask"] for f in self.features()}
        mask, unknown = 0, []
        for name in names:
            if name in by_name:
                mask |= by_name[name]
            else:
                unknown.append(name)
        return mask, unknown

    def known_features(self):
        """(mask this librbd knows, where that came from) or (None, reason)."""
        check = self.report.runtime.features_check if self.report.runtime else None
        if check:
            mask = 0
            for feature in self.features():
                answer = check.get(str(feature["mask"]))
                if answer and answer.get("rc") != -errno_mod.EINVAL:
                    mask |= feature["mask"]
            return mask, "the library's own rbd_features_to_string answers"
        value, source = self.fact("rbd_features_all")
        if value is not None:
            return value, "RBD_FEATURES_ALL of {} ({})".format(self.release_label(), source)
        return None, source or "the release was not identified"

    def first_release_knowing(self, names):
        firsts = [f.get("first") for f in self.features() if f["name"] in names and f.get("first")]
        return max(firsts, key=version_key) if firsts else None

    # symbols
    def symbol_entry(self, symbol):
        library = "librados" if symbol.startswith("rados_") else "librbd"
        return library, kb.symbols(library)["symbols"].get(symbol)

    def exports(self, library, symbol):
        """True/False from the ELF file, else from the identified release, else None."""
        functions = (self.context.functions or {}).get(library)
        if functions is not None:
            return symbol in functions, "{}'s dynamic symbol table".format(os.path.basename(self.library_label(library)))
        _, entry = self.symbol_entry(symbol)
        if entry is not None and self.version:
            return present_in(entry, self.version), "the knowledge base for {}".format(self.release_label())
        return None, "no symbol table read"

    def codename(self, version):
        best = None
        for rel in sorted(kb.releases(), key=lambda r: version_key(r["version"])):
            if version_key(rel["version"]) <= version_key(version):
                best = rel.get("codename")
        return best

    def release_name(self, version):
        codename = self.codename(version) if version else None
        return "{}{}".format(version, " ({})".format(codename) if codename else "")

    def config(self):
        return self.report.config or {}

    def config_where(self):
        conf = self.config()
        return "{} [{}]".format(conf.get("file") or "the client configuration", conf.get("client") or "client")


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


def _analyse_capability(sig, hit, host):
    evidence, fixes = [], []
    cap_id = sig.get("capability")
    try:
        cap = host.report.capability(cap_id)
    except KeyError:
        cap = None
    for symbol in sig.get("symbols", ()):
        library, entry = host.symbol_entry(symbol)
        first = host.release_name(entry["first"]) if entry else "an unknown release"
        if cap is not None and cap.status == "yes":
            evidence.append("this host's {} ({}, {}) exports {}: the failing process loaded a different "
                            "librbd".format(library, host.library_label(library), host.release_label(), symbol))
            evidence.extend(_copies_lines(host, library, symbol))
            fixes.append("make the failing process load {} (check LD_LIBRARY_PATH, LD_PRELOAD, a bundled "
                         "copy in its virtualenv or container)".format(host.library_label(library)))
        elif cap is not None and cap.status == "no":
            evidence.append("this host's {} ({}, {}) does not export {}, which first appeared in Ceph "
                            "{}".format(library, host.library_label(library), host.release_label(), symbol, first))
            fixes.append("upgrade librbd1/librados2 on this host to Ceph {} or later".format(first))
        else:
            evidence.append("cannot tell whether this host's librbd exports {}: {}".format(
                symbol, cap.reason if cap else "no such capability"))
            fixes.append("{} first appeared in Ceph {}".format(symbol, first))
    return evidence, fixes


def _binding_lines(norm, host, hit):
    """Which binding and which caller the traceback just before ``hit`` runs through."""
    lines = []
    doc = kb.load("errors.json")
    all_lines = norm.split("\n")
    first = hit.norm_line
    # A traceback's frames are indented; walk back over them to its "Traceback" header.
    while first > 0 and hit.norm_line - first < _TRACEBACK_LINES and (
            all_lines[first - 1].startswith((" ", "\t")) or "Traceback (most recent call last)" in all_lines[first - 1]):
        first -= 1
    norm = "\n".join(all_lines[first:hit.norm_line + 1])
    for binding in doc.get("bindings", ()):
        match = None
        for match in re.finditer(binding["pattern"], norm):
            pass
        if match:
            lines.append("the traceback runs through {} (line {}, {}): {}".format(
                match.group("path"), match.group("line"), match.group("function"), binding["note"]))
    for caller in doc.get("callers", ()):
        if re.search(caller["pattern"], norm):
            lines.append("the caller is {}: it {}".format(caller["name"], caller["note"]))
    return lines


def _analyse_feature_mask(sig, hit, host, norm):
    evidence = _binding_lines(norm, host, hit)
    fixes = []
    known, known_source = host.known_features()
    evidence.append("this host's librbd: {} ({})".format(host.library_label("librbd"), host.release_label()))
    if known is not None:
        evidence.append("it knows feature bits 0x{:x} ({}) according to {}".format(
            known, ", ".join(host.names(known)) or "none", known_source))
    else:
        evidence.append("which feature bits it knows is not determined: {}".format(known_source))
    conf = host.config()
    configured = conf.get("rbd_default_features") or {}
    mask = configured.get("value")
    if mask is None:
        evidence.append("{} sets no rbd default features (read by {})".format(
            host.config_where(), conf.get("read_by") or "nothing"))
        default, default_source = host.fact("default_features")
        if default is not None and known is not None and not default & ~known:
            evidence.append("without it librbd uses its built-in default 0x{:x} ({}; {}), which it knows: the caller "
                            "passed its own mask, or the failing process loaded another librbd".format(
                                default, ", ".join(host.names(default)) or "none", default_source))
            evidence.extend(_copies_lines(host, "librbd", "rbd_create"))
        if known is not None:
            fixes.append("ask only for features in 0x{:x} ({}) on this host".format(known, ", ".join(host.names(known))))
        return evidence, fixes
    evidence.append("{} sets rbd default features = {} = 0x{:x} ({})".format(
        host.config_where(), configured.get("raw"), mask, ", ".join(host.names(mask)) or "none"))
    if known is None:
        return evidence, fixes
    unknown = mask & ~known
    if unknown:
        names = host.names(unknown)
        evidence.append("of these, {} (0x{:x}) are unknown to this librbd: every create that uses the "
                        "configured mask gets -ENOSYS here".format(", ".join(names), unknown))
        first = host.first_release_knowing(names)
        if first:
            fixes.append("upgrade librbd1/librados2 on this host to Ceph {} or later (the first release that "
                         "knows {})".format(host.release_name(first), ", ".join(names)))
        fixes.append("or set `rbd default features = {}` ({}) in {}".format(
            mask & known, ", ".join(host.names(mask & known)) or "no features", host.config_where()))
    else:
        evidence.append("every configured feature is known to this librbd: the failing process passed its own "
                        "mask or loaded another librbd")
        evidence.extend(_copies_lines(host, "librbd", "rbd_create"))
    return evidence, fixes


def _analyse_format1(sig, hit, host, norm):
    evidence = _binding_lines(norm, host, hit)
    fixes = []
    policy, policy_source = host.fact("format1_create")
    if policy is None:
        evidence.append("whether this host's librbd ({}) refuses format 1 is not known: {}".format(
            host.release_label(), policy_source or "release not identified"))
    elif str(policy).startswith("refused"):
        evidence.append("this host's librbd ({}, {}) refuses format 1 creation ({})".format(
            host.library_label("librbd"), host.release_label(), policy_source))
    else:
        evidence.append("this host's librbd ({}, {}) still creates format 1 images ({}): the failing process "
                        "loaded another librbd".format(host.library_label("librbd"), host.release_label(), policy_source))
        evidence.extend(_copies_lines(host, "librbd", "rbd_create"))
    fmt = (host.config().get("rbd_default_format") or {})
    if fmt.get("raw") is not None:
        evidence.append("{} sets rbd default format = {}{}".format(
            host.config_where(), fmt.get("raw"),
            ": rbd_create (what RBD.create(old_format=True) calls) makes format 1 images" if fmt.get("value") == 1 else ""))
        if fmt.get("value") == 1:
            fixes.append("set `rbd default format = 2` in {}".format(host.config_where()))
    else:
        default, source = host.fact("default_format")
        if default is not None:
            evidence.append("rbd default format is not set; this release defaults to {} ({})".format(default, source))
    for binding in host.context.bindings or ():
        if binding.get("module") == "rbd" and binding.get("old_format_default") is not None:
            evidence.append("the rbd binding {} ({}) defaults RBD.create to old_format={}".format(
                binding.get("path"), binding.get("kind"), binding.get("old_format_default")))
            if binding.get("old_format_default"):
                fixes.append("pass old_format=False to RBD.create (the binding {} defaults to True)".format(binding.get("path")))
    return evidence, fixes


def _analyse_binding_old_format(sig, hit, host, norm):
    evidence = _binding_lines(norm, host, hit)
    fixes = []
    for binding in host.context.bindings or ():
        if binding.get("module") == "rbd" and binding.get("old_format_default") is not None:
            evidence.append("this host's rbd binding {} ({}) defaults RBD.create to old_format={}".format(
                binding.get("path"), binding.get("kind"), binding.get("old_format_default")))
    if not any(b.get("module") == "rbd" for b in host.context.bindings or ()):
        evidence.append("no Python rbd binding was examined on this host")
    fixes.append("call RBD.create(..., old_format=False, features=...)")
    return evidence, fixes


_HOW_LOADED = (
    (re.compile(r"ImportError|ModuleNotFoundError"), "a Python extension module failed at import"),
    (re.compile(r"symbol lookup error"), "the program started, and the loader failed when the function was first called (lazy binding)"),
    (re.compile(r"OSError|dlopen|Failed to open module|failed to load"), "the library or module was opened with dlopen (ctypes, a plugin or a QEMU module)"),
)


def _analyse_symbol(sig, hit, host, norm):
    symbol = hit.groups["symbol"]
    obj = hit.groups.get("object")
    evidence, fixes = [], []
    context_line = norm.splitlines()[hit.norm_line] if hit.norm_line < len(norm.splitlines()) else ""
    for pattern, how in _HOW_LOADED:
        if pattern.search(context_line):
            evidence.append("how: {}".format(how))
            break
    library, entry = host.symbol_entry(symbol)
    if entry is None:
        evidence.append("{} is not a C function of any {} release this tool knows (a private symbol, or newer "
                        "than its knowledge base)".format(symbol, library))
    else:
        removed = entry.get("removed")
        # A function first seen in a Debian build carries a note: the exact first release
        # between the two known builds is not verified, so say "by", not "in".
        evidence.append("{} is a {} function first released {} Ceph {}{}{}".format(
            symbol, library, "by" if entry.get("note") else "in", host.release_name(entry["first"]),
            " ({})".format(entry["note"]) if entry.get("note") else "",
            "; removed in {}".format(host.release_name(removed)) if removed else ""))
    if obj:
        evidence.append("the object that needs it: {}".format(obj))
    has, how = host.exports(library, symbol)
    lib_label = host.library_label(library)
    if has is None:
        evidence.append("whether this host's {} ({}) exports it is unknown ({})".format(library, lib_label, how))
    elif has:
        evidence.append("this host's {} ({}, {}) exports {} ({}): the failing process loaded a different copy".format(
            library, lib_label, host.release_label(), symbol, how))
        copies = _copies_lines(host, library, symbol)
        evidence.extend(copies or ["no other copy of {} was found where the loader looks on this host".format(library)])
        fixes.append("make the process load {} (LD_LIBRARY_PATH, RPATH/RUNPATH of {}, a bundled copy)".format(
            lib_label, obj or "the program"))
    else:
        evidence.append("this host's {} ({}, {}) does not export {} ({})".format(
            library, lib_label, host.release_label(), symbol, how))
        if entry is not None:
            fixes.append("upgrade {}{} on this host to Ceph {} or later".format(
                library, "1" if library == "librbd" else "2", host.release_name(entry["first"])))
        fixes.append("or use the build of {} made for {}".format(obj or "the program", host.release_label()))
    return evidence, fixes


def _analyse_missing_library(sig, hit, host, norm):
    soname = hit.groups.get("soname", "librbd")
    library = "librados" if soname.startswith("librados") else "librbd"
    lib = host.library(library)
    evidence, fixes = [], []
    if lib is not None and lib.found:
        evidence.append("on this host the loader finds {} at {} (via {}): the failing process searched elsewhere "
                        "(another root, container, or a cleared LD_LIBRARY_PATH)".format(
                            library, lib.realpath, lib.chosen_by))
    else:
        evidence.append("this host has no {} where the loader looks".format(library))
        for cand in (lib.candidates if lib else ()):
            evidence.append("a copy exists at {}{}".format(
                cand.realpath, "" if cand.compatible else " but the loader skips it: " + (cand.note or "incompatible")))
        if lib is not None and not lib.candidates:
            evidence.append("no copy of {} anywhere this tool searched".format(library))
    return evidence, fixes


def _parse_kernel(release):
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    return tuple(int(p or 0) for p in match.groups()) if match else None


def _krbd_lines(host, image_mask):
    evidence, fixes = [], []
    names = host.names(image_mask)
    krbd = host.report.krbd or {}
    supported = krbd.get("supported_features")
    if supported is None:
        evidence.append("this host's kernel RBD client: {}".format(krbd.get("reason") or "not examined"))
        return evidence, fixes
    evidence.append("this host's kernel supports 0x{:x} ({})".format(supported, ", ".join(host.names(supported))))
    rejected = image_mask & ~supported
    if rejected:
        evidence.append("of the image's features, this kernel would reject {} (0x{:x})".format(
            ", ".join(host.names(rejected)), rejected))
        fixes.append("rbd feature disable POOL/IMAGE {}".format(" ".join(reversed(host.names(rejected)))))
    else:
        evidence.append("this kernel supports all of {}: the message came from another host or an older kernel".format(
            ", ".join(names)))
    conf_mask = (host.config().get("rbd_default_features") or {}).get("value")
    if conf_mask is not None and conf_mask & ~supported:
        evidence.append("new images get rbd default features = {} from {}, which this kernel cannot map either".format(
            conf_mask, host.config_where()))
        fixes.append("for images meant for krbd set `rbd default features = {}` ({}) in {}".format(
            conf_mask & supported, ", ".join(host.names(conf_mask & supported)), host.config_where()))
    return evidence, fixes


def _analyse_krbd_mask(sig, hit, host, norm):
    mask = int(hit.groups["mask"], 16)
    evidence = ["the image's unsupported features 0x{:x} are: {}".format(mask, ", ".join(host.names(mask)))]
    more, fixes = _krbd_lines(host, mask)
    return evidence + more, fixes


def _analyse_krbd_names(sig, hit, host, norm):
    names = [n for n in re.split(r"[\s,]+", hit.groups.get("names", "")) if n]
    if not names:
        return ["the message names no features; `dmesg | tail` shows \"image uses unsupported features: 0x..\""], []
    mask, unknown = host.mask_of(names)
    evidence = ["rbd suggests disabling {} (0x{:x}){}".format(
        ", ".join(names), mask, "; unknown names: " + ", ".join(unknown) if unknown else "")]
    more, fixes = _krbd_lines(host, mask)
    if hit.groups.get("spec"):
        fixes = [f.replace("POOL/IMAGE", hit.groups["spec"]) for f in fixes]
    return evidence + more, fixes


def _analyse_cluster_features(sig, hit, host, norm):
    missing = int(hit.groups["missing"], 16)
    table = {entry["bit"]: entry for entry in kb.load("errors.json").get("cluster_features", ())}
    evidence, fixes = [], []
    kernel = host.context.kernel_release
    needed = []
    for bit in range(64):
        if not missing & (1 << bit):
            continue
        entry = table.get(bit)
        if entry is None:
            evidence.append("missing bit {} (0x{:x}): not in this tool's table".format(bit, 1 << bit))
            continue
        needed.append(entry)
        evidence.append("missing bit {} = {}: needs Linux {} or Ceph {} clients{}".format(
            bit, "/".join(entry["names"]), entry["kernel"], entry["client"],
            "; " + entry["note"] if entry.get("note") else ""))
    if kernel:
        running = _parse_kernel(kernel)
        if needed and running:
            newest = max(needed, key=lambda e: _parse_kernel(e["kernel"]))
            if running >= _parse_kernel(newest["kernel"]):
                evidence.append("this host runs Linux {}, new enough for these: the message came from another host "
                                "or an older boot".format(kernel))
            else:
                evidence.append("this host runs Linux {}, older than {}".format(kernel, newest["kernel"]))
                fixes.append("boot Linux {} or later on this host".format(newest["kernel"]))
                fixes.append("or relax the cluster: `ceph osd crush tunables {}` (moves data; affects every "
                             "client)".format(min(needed, key=lambda e: e["bit"])["profile"]))
    else:
        evidence.append("the running kernel's release was not given")
    return evidence, fixes


def _analyse_errno(sig, hit, host, norm):
    number = abs(int(hit.groups["errno"]))
    name = errno_mod.errorcode.get(number, "errno {}".format(number))
    meaning = (kb.load("errors.json").get("errno") or {}).get(str(number))
    evidence = ["{} = {} ({})".format(number, name, os.strerror(number))]
    fixes = []
    if meaning:
        evidence.append("in Ceph clients: " + meaning["meaning"])
    if number == errno_mod.ENOSYS:
        more, fixes = _analyse_feature_mask(sig, hit, host, norm)
        evidence.extend(more)
    elif number == errno_mod.EINVAL and (host.config().get("rbd_default_format") or {}).get("value") == 1:
        more, fixes = _analyse_format1(sig, hit, host, norm)
        evidence.extend(more)
    elif number == errno_mod.ENXIO:
        conf_mask = (host.config().get("rbd_default_features") or {}).get("value")
        if conf_mask is not None:
            more, fixes = _krbd_lines(host, conf_mask)
            evidence.extend(more)
    return evidence, fixes


_ANALYSES = {
    "capability": lambda sig, hit, host, norm: _analyse_capability(sig, hit, host),
    "feature_mask": _analyse_feature_mask,
    "format1": _analyse_format1,
    "binding_old_format": _analyse_binding_old_format,
    "symbol": _analyse_symbol,
    "missing_library": _analyse_missing_library,
    "krbd_mask": _analyse_krbd_mask,
    "krbd_names": _analyse_krbd_names,
    "cluster_features": _analyse_cluster_features,
    "errno": _analyse_errno,
}


def _values(hit):
    values = dict(hit.groups)
    if "mask" in values:
        values["mask"] = int(values["mask"], 16)
    if "errno" in values:
        values["errno"] = abs(int(values["errno"]))
    if "names" in values:
        values["names"] = [n for n in re.split(r"[\s,]+", values["names"]) if n]
    values.pop("text", None)
    return values


def explain(report, text, source="text", context=None, signatures=None):
    """Explain every known error signature in ``text`` against ``report``; an Explanation."""
    hits, norm = find_signatures(text, signatures)
    host = _Host(report, context)
    grouped = []
    index = {}
    for hit in hits:
        values = _values(hit)
        key = (hit.signature["id"], tuple(sorted((k, str(v)) for k, v in values.items())))
        if key in index:
            grouped[index[key]][1] += 1
            continue
        index[key] = len(grouped)
        grouped.append([hit, 1, values])
    findings = []
    for hit, count, values in grouped:
        sig = hit.signature
        evidence, fixes = _ANALYSES[sig["analysis"]](sig, hit, host, norm)
        findings.append(Finding(
            signature=sig["id"], family=sig["family"], title=sig["title"], line=hit.line, count=count,
            match=hit.match, values=values, cause=sig["cause"], evidence=tuple(evidence),
            fix=tuple(fixes) + (sig["fix"],), source=sig["source"]))
    summary = {"librbd": host.library_label("librbd"), "librados": host.library_label("librados"),
               "release": host.release_label(), "mode": report.mode,
               "config_file": host.config().get("file"), "kernel_release": host.context.kernel_release}
    return Explanation(source=source, host=summary, findings=tuple(findings))
