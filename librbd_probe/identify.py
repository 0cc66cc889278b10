"""Which Ceph release is this?  Evidence x knowledge layer -> a version or an honest range.

Pure: takes what the lower layers observed (exported functions of librbd and librados,
rbd_version()/rados_version(), the version libceph-common reports or carries in .rodata, its
SONAME) and asks ``librbd_probe.knowledge``; returns an immutable Identification plus
problems.  Symbols decide the range (rbd_version() collides across releases); an exact version
string narrows it; evidence that disagrees is reported, never silently overruled.  A range
never widens into a release whose sources were not reachable (an unverified placeholder) on
the strength of symbols alone: it stops before it, and says so.
"""
import zlib

try:
    from _collections_abc import Mapping as _Mapping     # collections.abc without importing collections
except ImportError:                                      # pragma: no cover - not CPython
    from collections.abc import Mapping as _Mapping

from . import knowledge as kn
from ._lazy import Pattern
from .model import Problem, Record

#: Upstream order of version strings (vendor suffixes order as their upstream version).
version_key = kn.version_key


class Observation(
        metaclass=Record,
        fields="librbd_functions librados_functions rbd_version rados_version "
        "version_string version_source release_name git_sha common_soname unusable elf_notes",
        defaults=(None, None, None, None, None, None, None, None, None, (), ())):
    # Fields (immutable):
    #   librbd_functions: Optional[frozenset] = None
    #   librados_functions: Optional[frozenset] = None
    #   rbd_version: Optional[Tuple[int, int, int]] = None
    #   rados_version: Optional[Tuple[int, int, int]] = None
    #   version_string: Optional[str] = None  # e.g. "16.2.15"
    #   version_source: Optional[str] = None  # where version_string came from
    #   release_name: Optional[str] = None  # e.g. "pacific" (ceph_release_to_str)
    #   git_sha: Optional[str] = None  # from the ceph_ver__<sha> symbol
    #   common_soname: Optional[str] = None  # DT_SONAME of the libceph-common librados needs
    #   unusable: Tuple[Tuple[str, str, str], ...] = ()  # (library, path, unusable_reason())
    #   elf_notes: Tuple[Tuple[str, str, str], ...] = ()  # (library, path, note): bounded header claims
    __slots__ = ()


#: The per-release facts an identification carries (knowledge.RELEASE_FACTS order of the report).
FACT_KEYS = ("rbd_features_all", "default_format", "default_features", "feature_names_accepted",
             "format1_create", "rbd_create_format", "libceph_common_soname")

_DICT_KEYS = ("version", "codename", "min", "before", "confidence", "evidence", "candidates", "facts", "label")


class Facts(_Mapping):
    """Read-only mapping key -> knowledge.Fact, carrying ``versions``: the releases the
    identification spans (its exact version, else its candidates), for per-release effects."""
    __slots__ = ("_data", "versions")

    def __init__(self, data=(), versions=()):
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "versions", tuple(versions))

    def __setattr__(self, name, value):
        raise AttributeError("Facts is read-only")

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        return "Facts({!r}, versions={!r})".format(self._data, self.versions)


class Identification(
        metaclass=Record,
        fields="version codename min before confidence evidence candidates facts label",
        defaults=(None, None, None, None, "none", (), (), Facts(), None)):
    """The identified release (immutable).

    ``version``: the exact version string when the library reported one; ``min``/``before``:
    the range the symbols allow (``before`` None = open); ``confidence``: high | medium | low |
    none; ``evidence``/``candidates``: tuples; ``facts``: a read-only Facts mapping key ->
    knowledge.Fact for the identified release or range (with ``.versions``); ``label``: e.g. "16.2.15 (pacific)" or
    "15.2.5 to before 16.2.0 (octopus)".

    ``to_dict()`` is the report's JSON shape.  Read access by key (``rel["version"]``,
    ``rel.get("facts")``) answers from ``to_dict()`` for callers written against the old dict.
    """
    __slots__ = ()

    def to_dict(self):
        out = {key: getattr(self, key) for key in _DICT_KEYS}
        out["evidence"] = list(self.evidence)
        out["candidates"] = list(self.candidates)
        out["facts"] = {key: {"value": _plain(fact.value),
                              "source": fact.source if fact.unverified is None else fact.unverified}
                        for key, fact in sorted(self.facts.items())}
        return out

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in _DICT_KEYS:
                raise KeyError(key)
            return self.to_dict()[key]
        return tuple.__getitem__(self, key)

    def get(self, key, default=None):
        return self.to_dict().get(key, default) if key in _DICT_KEYS else default

    def __contains__(self, key):
        return key in _DICT_KEYS if isinstance(key, str) else tuple.__contains__(self, key)


def _plain(value):
    return list(_plain(v) for v in value) if isinstance(value, tuple) else value


def series(text):
    """The release series of a version (knowledge.series)."""
    return kn.series(text)


def present_in(entry, version):
    """Is a function exported by release ``version``?  ``entry``: a knowledge.Function, a
    function name, or a symbols-file dict entry (tools and old callers)."""
    if isinstance(entry, dict):
        entry = kn.Function(None, None, entry["first"], True,
                            tuple(entry.get("backports") or ()), entry.get("removed"), None, None)
    return bool(kn.present_in(entry, version))


def expected_functions(symbols, version):
    """frozenset of functions release ``version`` exports; ``symbols``: a library name
    ('librbd', 'librados') or a symbols document."""
    if isinstance(symbols, str):
        return kn.expected_functions(symbols, version)
    return frozenset(name for name, entry in symbols["symbols"].items() if present_in(entry, version))


def set_digest(names):
    """A short digest of a set of function names (stored per release by tools/kb_from_headers.py)."""
    return "{:08x}".format(zlib.crc32("\n".join(sorted(names)).encode("ascii")))


def prepare():
    """Build what ``identify`` reads from the knowledge base (cached), ahead of the evidence:
    the scan does it while the probe child works."""
    kn.releases()
    kn.features()
    kn.feature_mask(())
    for library in ("librbd", "librados"):
        kn.function_span_keys(library)


def _fingerprint(observed, library, releases):
    """[(release, missing, extra)] for every release, comparing only functions the knowledge knows.

    Same rule as knowledge.present_in(), inlined over a pre-parsed table.  Releases whose
    stored digest differs from the observed set's cannot match exactly and are skipped when
    another release's digest matches: this runs on every scan, and the command line's start-up
    budget is a few milliseconds.
    """
    table = kn.function_span_keys(library)      # (built at build time in an installed package)
    seen = observed & frozenset(row[0] for row in table)
    digest = set_digest(seen)
    attr = library + "_digest"
    if any(getattr(rel, attr) == digest for rel in releases):
        releases = [rel for rel in releases if getattr(rel, attr) == digest]
    out = []
    for rel in releases:
        key = rel.key
        own = kn.series_of_key(key)
        expected = {name for name, first, removed, backports in table
                    if (removed is None or key < removed)
                    and (key >= first or (backports and any(kn.series_of_key(b) == own and key >= b
                                                            for b in backports)))}
        out.append((rel, sorted(expected - seen), sorted(seen - expected)))
    return out


def _exact(fingerprints):
    """Releases whose function set is exactly what was observed."""
    return [rel for rel, missing, extra in fingerprints if not missing and not extra]


def _closest(fingerprints):
    return min(fingerprints, key=lambda item: (len(item[1]) + len(item[2]), len(item[1])))


def _triple(value):
    return ".".join(map(str, value)) if value else None


def unusable_reason(info):
    """Why an ELF file chosen as a library cannot be one, or None when it can.

    ``info``: an elf.ElfInfo.  Garbage is never success: a valid ELF header over zeros, a
    file without PT_LOAD or PT_DYNAMIC (the loader refuses both) or a dynamic symbol table
    with nothing in it would otherwise read as a library that exports nothing, every
    capability ``no``; it is ``unknown`` with this reason instead.
    """
    if info.load_segments == 0:
        return ("no loadable segments (no PT_LOAD program header; the loader refuses it: "
                "\"object file has no loadable segments\")")
    if info.has_dynamic is False:
        return ("no dynamic section (no PT_DYNAMIC program header; the loader refuses it: "
                "\"object file has no dynamic section\")")
    if info.symbol_count is not None and info.symbol_count <= 1:
        return "no dynamic symbols (its dynamic symbol table holds no entry past the null one): it exports nothing"
    return None


def identify(obs):
    """Return (Identification, problems tuple) for an Observation."""
    broken = [reason for library, _, reason in obs.unusable or () if library == "librbd"]
    if broken:
        # Nothing of this librbd can be trusted; the libraries found around it (librados,
        # libceph-common) are not evidence of what it is.
        ident, problems = _identify(Observation())
        ident = ident._replace(evidence=("librbd is not a usable shared library: " + broken[0],) + ident.evidence)
    else:
        ident, problems = _identify(obs)
    extra = []
    if obs.unusable or obs.elf_notes:
        from .safeio import one_line        # only for damaged files (start-up: issue 13)
    for library, path, reason in obs.unusable or ():
        extra.append(Problem(
            "library.unusable-elf", "error",
            "{} ({}) is not a usable shared library: {}".format(library, one_line(path), reason),
            "reinstall the package that owns the file: it is damaged or not a library",
            (one_line(path), reason)))
    for library, path, note in obs.elf_notes or ():
        extra.append(Problem(
            "library.elf-claim-bounded", "warning",
            "{} ({}): a header field claims more than its segment or the file holds; read as the loader would: {}".format(
                library, one_line(path), note),
            "the file is damaged: reinstall the package that owns it", (one_line(path), note)))
    return ident, tuple(extra) + problems


def _identify(obs):
    everything = kn.releases()
    # Releases whose sources were not reachable carry no symbol data: they cannot be matched,
    # only mentioned (or bound the range) when they follow the matched releases.
    releases = [r for r in everything if r.verified]
    problems = []
    evidence = []
    matching = []
    if obs.librbd_functions is not None:
        prints = _fingerprint(obs.librbd_functions, "librbd", releases)
        matching = _exact(prints)
        if matching:
            evidence.append("librbd exports exactly the C functions of {}".format(_span(matching)))
        else:
            rel, missing, extra = _closest(prints)
            evidence.append("librbd's functions match no release exactly; closest {} ({} missing, {} extra)".format(
                rel.version, len(missing), len(extra)))
            problems.append(Problem(
                "release.fingerprint", "warning",
                "librbd's exported functions match no known release exactly: closest is {}, "
                "with {} missing{} and {} extra{} (a vendor backport or a patched build)".format(
                    kn.release_label(rel.version), len(missing), _few(missing), len(extra), _few(extra)),
                "compare with the distribution's changelog; capabilities follow the symbols, not the version",
                tuple("missing " + m for m in missing[:5]) + tuple("extra " + e for e in extra[:5])))
            matching = [rel]
    if obs.librados_functions is not None and matching:
        rados_match = _exact(_fingerprint(obs.librados_functions, "librados", releases))
        if rados_match:
            both = [r for r in matching if r in rados_match]
            if both:
                evidence.append("librados's functions agree ({})".format(_span(rados_match)))
                matching = both
            else:
                problems.append(Problem(
                    "release.mixed", "error",
                    "librbd looks like {} but librados like {}: they come from different releases".format(
                        _span(matching), _span(rados_match)),
                    "install librbd and librados from the same Ceph release (one package version)"))
    if obs.rados_version is not None and matching:
        matching = _narrow_by_rados_version(obs, matching, problems, evidence)
    fields = {"version": None, "codename": None, "min": None, "before": None, "confidence": "none",
              "candidates": ()}
    pool = []
    blind_open = False
    if matching:
        fields["min"] = matching[0].version
        fields["candidates"] = tuple(r.version for r in matching)
        later = [r for r in everything if r.key > matching[-1].key]
        # Entries are API-change points: the library may be any version up to the next entry;
        # an unverified entry bounds the range too (nothing is known about it).
        fields["before"] = later[0].version if later else None
        pool = [r for r in releases if matching[0].key <= r.key and (not later or r.key < later[0].key)]
        if later and not later[0].verified:
            # an exact version string settles what the symbols leave open: no word about placeholders
            blind_open = _beyond_placeholder(obs, matching, later, releases, [] if obs.version_string else evidence)
            if blind_open:
                pool += [r for r in everything if not r.verified and r.key >= later[0].key
                         and kn.series(r.version) == kn.series(later[0].version)]
        earlier = [r for r in everything if r.key < matching[0].key]
        if earlier and not earlier[-1].verified and not obs.version_string:
            evidence.append("{} has no symbol data (sources not reachable): builds from it up to {} "
                            "may export the same functions".format(
                                kn.release_label(earlier[-1].version), matching[0].version))
    if obs.rbd_version is not None:
        triple = _triple(obs.rbd_version)
        expected = {r.rbd_version for r in matching if r.rbd_version}
        if expected and tuple(obs.rbd_version) not in expected:
            problems.append(Problem(
                "release.rbd-version", "warning",
                "rbd_version() says {} but the releases matching librbd's symbols report {}".format(
                    triple, ", ".join(sorted(_triple(t) for t in expected))),
                "the library may be patched; trust the symbol-based capabilities"))
        evidence.append("rbd_version() = {}".format(triple))
    if obs.version_string:
        _apply_exact(obs, fields, everything, matching, problems, evidence)
        exact_rel = kn.release_for(obs.version_string)
        pool = [exact_rel] if exact_rel is not None else []
        facts = _facts(pool, "no knowledge-base entry for the {} series".format(
            ".".join(map(str, kn.series(obs.version_string)))))
    else:
        if matching:
            codenames = []
            for rel in matching:
                if rel.codename and rel.codename not in codenames:
                    codenames.append(rel.codename)
            fields["codename"] = "/".join(codenames) or None
            fields["confidence"] = "medium" if len(codenames) == 1 and not blind_open else "low"
        facts = _facts(pool, "release not identified" if not matching else
                       "no knowledge-base entry in the identified range")
    if obs.common_soname:
        _check_common_soname(obs, facts, problems, evidence)
    if obs.git_sha:
        evidence.append("libceph-common carries ceph_ver__{}".format(obs.git_sha))
    fields["label"] = _label(fields)
    versions = (fields["version"],) if fields["version"] else fields["candidates"]
    return Identification(evidence=tuple(evidence), facts=Facts(facts, versions), **fields), tuple(problems)


def _narrow_by_rados_version(obs, matching, problems, evidence):
    """Releases with the same functions can differ in rados_version() (argonaut 0.48 reports
    0.44.0, 0.48.1-0.48.3 report 0.48.0): keep those that report what the library does."""
    observed = tuple(obs.rados_version)
    triple = _triple(observed)
    known = [r for r in matching if r.rados_version]
    agree = [r for r in known if r.rados_version == observed]
    if agree and len(agree) < len(matching):
        evidence.append("rados_version() = {} narrows the match to {}".format(triple, _span(agree)))
        return agree
    if known and not agree:
        problems.append(Problem(
            "release.rados-version", "warning",
            "rados_version() says {} but the releases matching the symbols report {}".format(
                triple, ", ".join(sorted({_triple(r.rados_version) for r in known}))),
            "the library may be patched; trust the symbol-based capabilities"))
    evidence.append("rados_version() = {}".format(triple))
    return matching


def _beyond_placeholder(obs, matching, later, releases, evidence):
    """Can the library be a build of the unverified entry ``later[0]``'s series?  Returns True
    when that is not ruled out (the range's end is then open to it).

    Ruled out when rbd_version() was observed, equals what the matched releases report, and
    differs from every verified release of the placeholder's series: LIBRBD_VER_* is compiled
    into librbd from its own release's librbd.h.
    """
    blind = later[0]
    same_series = [r for r in releases if kn.series(r.version) == kn.series(blind.version) and r.rbd_version]
    observed = tuple(obs.rbd_version) if obs.rbd_version is not None else None
    matched = {r.rbd_version for r in matching if r.rbd_version}
    if observed is not None and observed in matched and same_series and all(
            r.rbd_version != observed for r in same_series):
        evidence.append("{} has no symbol data (sources not reachable); rbd_version() {} is {}'s, not {}'s "
                        "({} reports {}): not {}, so the range ends before {}".format(
                            kn.release_label(blind.version), _triple(observed), matching[-1].codename or matching[-1].version,
                            blind.codename or blind.version, same_series[0].version, _triple(same_series[0].rbd_version),
                            blind.codename or blind.version, blind.version))
        return False
    evidence.append("{} has no symbol data (sources not reachable): a build from {} on is not ruled out{}".format(
        kn.release_label(blind.version), blind.version,
        "" if observed is not None else " (rbd_version() not observed)"))
    return True


def _check_common_soname(obs, facts, problems, evidence):
    fact = facts.get("libceph_common_soname")
    if fact is None or fact.unverified is not None:
        return
    if fact.value == obs.common_soname:
        evidence.append("librados needs {}, as the identified release ships".format(obs.common_soname))
        return
    expected = fact.value or "no shared libceph-common"
    evidence.append("librados needs {}; the identified release ships {}".format(obs.common_soname, expected))
    problems.append(Problem(
        "release.common-soname", "warning",
        "librados needs {} but the identified release ships {} ({})".format(obs.common_soname, expected, fact.source),
        "librados and libceph-common may come from different builds: check which package owns each file"))


def _label(fields):
    if fields["version"]:
        return kn.release_label(fields["version"]) if not fields["codename"] else "{} ({})".format(
            fields["version"], fields["codename"])
    if fields["min"] is None:
        return None
    if fields["before"] is None:
        span = "{} or later".format(fields["min"])
    else:
        span = "{} to before {}".format(fields["min"], fields["before"])
    return "{} ({})".format(span, fields["codename"]) if fields["codename"] else span


def _span(matching):
    if len(matching) == 1:
        return matching[0].version
    return "{} .. {}".format(matching[0].version, matching[-1].version)


def _apply_exact(obs, fields, releases, matching, problems, evidence):
    version = obs.version_string
    fields["version"] = version
    fields["codename"] = obs.release_name or kn.codename(version)
    evidence.append("{} reports {}".format(obs.version_source or "the library", version))
    if not matching:
        fields["confidence"] = "medium"
        return
    key = version_key(version)
    lo = matching[0].key
    # Below the first match but not below an unverified entry just before it: builds of that
    # entry's series are unverified and may export the same functions.
    earlier = [r for r in releases if r.key < lo]
    floor = lo
    for rel in reversed(earlier):
        if rel.verified:
            break
        floor = rel.key
    hi = version_key(fields["before"]) if fields["before"] else None
    if lo <= key and (hi is None or key < hi):
        fields["confidence"] = "high"
    elif floor <= key < lo:
        fields["confidence"] = "medium"
        evidence.append("{} lies in {}'s unverified stretch before {}: consistent with the symbols".format(
            version, kn.release_label(earlier[-1].version), matching[0].version))
    else:
        fields["confidence"] = "low"
        problems.append(Problem(
            "release.disagree", "warning",
            "{} says Ceph {} but librbd's functions match {}{}".format(
                obs.version_source or "the library", version, matching[0].version,
                " .. before " + fields["before"] if fields["before"] else " or later"),
            "a vendor backport or mixed packages: check which package owns each library file"))


def _facts(pool, empty_reason):
    """{key: Fact} over the releases in ``pool``: determined only when every entry is verified
    for the key and all agree (a verified None, e.g. "no shared libceph-common" before
    luminous, is a value); otherwise value None with the reason."""
    facts = {}
    for key in FACT_KEYS:
        if not pool:
            facts[key] = kn.Fact(None, None, empty_reason)
            continue
        values = [(rel, rel.facts.get(key) or kn.Fact(None, None, "not recorded")) for rel in pool]
        if not any(rel.verified for rel, _ in values):
            facts[key] = kn.Fact(None, None, "; ".join("{}: {}".format(rel.version, rel.unverified or "unverified")
                                                       for rel, _ in values[:3]))
            continue
        unverified = [(rel, f) for rel, f in values if f.unverified is not None or not rel.verified]
        distinct = {repr(f.value) for _, f in values}
        if not unverified and len(distinct) == 1:
            rel, fact = values[-1]
            facts[key] = kn.Fact(_normalised(key, fact.value), "{} ({})".format(fact.source, rel.version), None)
        elif unverified:
            facts[key] = kn.Fact(None, None, "undetermined: " + "; ".join(
                "{}: {}".format(rel.version, (rel.unverified if not rel.verified else f.unverified) or "unverified")
                for rel, f in unverified[:3]))
        else:
            facts[key] = kn.Fact(None, None, "undetermined: the releases in range differ: " + "; ".join(
                "{} {}".format(rel.version, _plain(f.value)) for rel, f in values[:4]))
    return facts


def _normalised(key, value):
    """default_features as a mask: releases since luminous spell the default with names."""
    if key == "default_features" and isinstance(value, str):
        try:
            return kn.feature_mask(value)
        except kn.KnowledgeBaseError:
            return value
    return value


def _few(names):
    return " ({}{})".format(", ".join(names[:3]), ", ..." if len(names) > 3 else "") if names else ""


class _Found(object):
    """The part of a regex match object that elf.find_strings uses."""
    __slots__ = ("_start", "_value")

    def __init__(self, start, value):
        self._start, self._value = start, value

    def start(self):
        return self._start

    def group(self, _index):
        return self._value


class _VersionFinder(object):
    """``finditer`` for NUL-delimited ``X.Y.Z`` strings (1-2, 1-2, 1-3 digits): how
    CEPH_GIT_NICE_VER (src/common/version.cc) sits in libceph-common's .rodata.

    Equivalent to the regex ``REGEX`` below (tests/test_identify.py compares them on every
    real libceph-common, tests/test_fastpaths.py on random byte strings; the closing NUL is a
    lookahead, so two version strings side by side are both found), but written without
    ``re`` (a static scan that matches no other regular expression does not import re for
    this one: ``_lazy``) and without a Python step per byte or per dot: the piece is split at
    its dots (in C), the middle numbers are the pieces of one or two ASCII digits (one
    comprehension over some 200 pieces of 64 KiB of real .rodata), and only those few are
    looked at: the piece before must end in NUL + 1-2 digits, the piece after start with 1-3
    digits + NUL.  A match's NULs belong to no number, so matches found this way never
    overlap, as finditer's.
    """
    REGEX = Pattern(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})(?=\x00)")

    #: a larger input than this goes to the regex (elf.find_strings hands 64 KiB pieces): the
    #: split makes an object per dot, memory that should stay bounded
    MAX_PIECE = 1 << 18

    def finditer(self, data):
        if len(data) > self.MAX_PIECE:
            return [_Found(m.start(), m.group(1)) for m in self.REGEX.finditer(data)]
        pieces = bytes(data).split(b".")
        found = []
        starts = None
        last = len(pieces) - 1
        for index in [i for i, piece in enumerate(pieces) if len(piece) <= 2 and piece.isdigit()]:
            if index == 0 or index == last:
                continue                  # a middle number has a dot on either side
            before, after = pieces[index - 1], pieces[index + 1]
            if len(before) >= 3 and before[-3] == 0 and before[-2:].isdigit():
                first = before[-2:]
            elif len(before) >= 2 and before[-2] == 0 and 0x30 <= before[-1] <= 0x39:
                first = before[-1:]
            else:
                continue
            end = after.find(b"\0")
            if not 1 <= end <= 3 or not after[:end].isdigit():
                continue
            if starts is None:            # where each piece starts, for the matches' offsets
                starts = [0]
                for piece in pieces:
                    starts.append(starts[-1] + len(piece) + 1)
            found.append(_Found(starts[index] - len(first) - 2, first + b"." + pieces[index] + b"." + after[:end]))
        return found


_VERSION_IN_RODATA = _VersionFinder()


def version_string_pattern():
    """The finder for CEPH_GIT_NICE_VER in .rodata (``finditer`` like a compiled regex)."""
    return _VERSION_IN_RODATA


