"""Which Ceph release is this?  Evidence x knowledge base -> a version or an honest range.

Pure: takes what the lower layers observed (exported functions of librbd and librados,
rbd_version()/rados_version(), the version libceph-common reports or carries in .rodata) and
the knowledge base; returns a dict for the report plus problems.  Symbols decide the range
(rbd_version() collides across releases); an exact version string narrows it; evidence that
disagrees is reported, never silently overruled.
"""
import functools
import re
import zlib

from .model import Problem, record


class Observation(record(
        "Observation",
        "librbd_functions librados_functions rbd_version rados_version "
        "version_string version_source release_name git_sha common_soname",
        (None, None, None, None, None, None, None, None, None))):
    # Fields (immutable):
    #   librbd_functions: Optional[frozenset] = None
    #   librados_functions: Optional[frozenset] = None
    #   rbd_version: Optional[Tuple[int, int, int]] = None
    #   rados_version: Optional[Tuple[int, int, int]] = None
    #   version_string: Optional[str] = None  # e.g. "16.2.15"
    #   version_source: Optional[str] = None  # where version_string came from
    #   release_name: Optional[str] = None  # e.g. "pacific" (ceph_release_to_str)
    #   git_sha: Optional[str] = None  # from the ceph_ver__<sha> symbol
    #   common_soname: Optional[str] = None
    __slots__ = ()


@functools.lru_cache(maxsize=4096)
def version_key(text):
    """'16.2.15' -> (16, 2, 15); non-numeric parts sort first (never raises).

    Cached: fingerprinting compares some 300 functions against every release.
    """
    out = []
    for part in str(text).split("."):
        out.append(int(part) if part.isdigit() else -1)
    return tuple(out)


def series(text):
    return version_key(text)[:2]


def present_in(entry, version):
    """Is a function described by a symbols-file entry exported by release ``version``?"""
    key = version_key(version)
    removed = entry.get("removed")
    if removed and key >= version_key(removed):
        return False
    if key >= version_key(entry["first"]):
        return True
    for backport in entry.get("backports") or ():
        if series(backport) == series(version) and key >= version_key(backport):
            return True
    return False


def expected_functions(symbols_doc, version):
    return frozenset(name for name, entry in symbols_doc["symbols"].items() if present_in(entry, version))


def _presence_table(symbols_doc):
    """(name, first, removed, backports) with versions parsed once, for fast set building."""
    table = []
    for name, entry in symbols_doc["symbols"].items():
        removed = entry.get("removed")
        table.append((name, version_key(entry["first"]), version_key(removed) if removed else None,
                      tuple(version_key(b) for b in entry.get("backports") or ())))
    return table


def set_digest(names):
    """A short digest of a set of function names (stored per release by tools/kb_from_headers.py)."""
    return "{:08x}".format(zlib.crc32("\n".join(sorted(names)).encode("ascii")))


def _fingerprint(observed, symbols_doc, releases):
    """[(release, missing, extra)] for every release, comparing only functions the KB knows.

    Same rule as present_in(), inlined over a pre-parsed table.  Releases whose stored
    digest (``<library>_digest``) differs from the observed set's cannot match exactly and
    are skipped when another release's digest matches: this runs on every scan, and the
    command line's start-up budget is a few milliseconds.
    """
    table = _presence_table(symbols_doc)
    seen = observed & frozenset(row[0] for row in table)
    digest_key = symbols_doc.get("library", "") + "_digest"
    digest = set_digest(seen)
    if any(rel.get(digest_key) == digest for rel in releases):
        releases = [rel for rel in releases if rel.get(digest_key) == digest]
    out = []
    for rel in releases:
        key = version_key(rel["version"])
        expected = {name for name, first, removed, backports in table
                    if (removed is None or key < removed)
                    and (key >= first or (backports and any(b[:2] == key[:2] and key >= b for b in backports)))}
        out.append((rel, sorted(expected - seen), sorted(seen - expected)))
    return out


def _range(fingerprints):
    """Releases whose function set is exactly what was observed, as (matching, next_other)."""
    exact = [i for i, (_, missing, extra) in enumerate(fingerprints) if not missing and not extra]
    if not exact:
        return [], None
    # Releases are API-change points: the observed library may be any version from the first
    # exact match up to (not including) the next release whose set differs.
    last = exact[-1]
    following = fingerprints[last + 1][0]["version"] if last + 1 < len(fingerprints) else None
    return [fingerprints[i][0] for i in exact], following


def _closest(fingerprints):
    return min(fingerprints, key=lambda item: (len(item[1]) + len(item[2]), len(item[1])))


def _value(rel, key):
    field = rel.get(key)
    return field.get("value") if isinstance(field, dict) else None


def identify(obs, releases_doc, librbd_symbols_doc, librados_symbols_doc):
    """Return (release dict or None, problems tuple)."""
    everything = sorted(releases_doc["releases"], key=lambda r: version_key(r["version"]))
    # Releases whose sources were not reachable carry no symbol data: they cannot be matched,
    # only mentioned when they fall inside the identified range.
    releases = [r for r in everything if r.get("source_kind") != "unverified"]
    order = [r["version"] for r in releases]
    problems = []
    evidence = []
    result = {"version": None, "codename": None, "min": None, "before": None,
              "confidence": "none", "evidence": evidence, "candidates": []}
    matching = []
    if obs.librbd_functions is not None:
        prints = _fingerprint(obs.librbd_functions, librbd_symbols_doc, releases)
        matching, _ = _range(prints)
        if matching:
            evidence.append("librbd exports exactly the C functions of {}".format(_span(matching)))
        else:
            rel, missing, extra = _closest(prints)
            evidence.append("librbd's functions match no release exactly; closest {} ({} missing, {} extra)".format(
                rel["version"], len(missing), len(extra)))
            problems.append(Problem(
                "release.fingerprint", "warning",
                "librbd's exported functions match no known release exactly: closest is {} {}, "
                "with {} missing{} and {} extra{} (a vendor backport or a patched build)".format(
                    rel["version"], rel.get("codename") or "", len(missing), _few(missing), len(extra), _few(extra)),
                "compare with the distribution's changelog; capabilities follow the symbols, not the version",
                tuple("missing " + m for m in missing[:5]) + tuple("extra " + e for e in extra[:5])))
            matching = [rel]
    if obs.librados_functions is not None and matching:
        rados_match, _ = _range(_fingerprint(obs.librados_functions, librados_symbols_doc, releases))
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
    if matching:
        last = order.index(matching[-1]["version"])
        result["min"] = matching[0]["version"]
        # Entries are API-change points: the library may be any version up to the next one.
        result["before"] = order[last + 1] if last + 1 < len(order) else None
        result["candidates"] = [r["version"] for r in matching]
        lo, hi = version_key(result["min"]), version_key(result["before"]) if result["before"] else None
        blind = [r["version"] for r in everything if r.get("source_kind") == "unverified"
                 and version_key(r["version"]) > lo and (hi is None or version_key(r["version"]) < hi)]
        if blind:
            evidence.append("no symbol data for {} (sources not reachable): the range may span them".format(
                ", ".join(blind)))
    if obs.rbd_version is not None:
        triple = ".".join(map(str, obs.rbd_version))
        expected = {tuple(_value(r, "rbd_version")) for r in matching if _value(r, "rbd_version")}
        if expected and tuple(obs.rbd_version) not in expected:
            problems.append(Problem(
                "release.rbd-version", "warning",
                "rbd_version() says {} but the releases matching librbd's symbols report {}".format(
                    triple, ", ".join(sorted(".".join(map(str, t)) for t in expected))),
                "the library may be patched; trust the symbol-based capabilities"))
        evidence.append("rbd_version() = {}".format(triple))
    if obs.version_string:
        _apply_exact(obs, result, everything, matching, problems)
    elif matching:
        codenames = []
        for rel in matching:
            if rel.get("codename") and rel["codename"] not in codenames:
                codenames.append(rel["codename"])
        result["codename"] = "/".join(codenames) or None
        result["confidence"] = "medium" if len(codenames) == 1 else "low"
    if obs.git_sha:
        evidence.append("libceph-common carries ceph_ver__{}".format(obs.git_sha))
    return result, tuple(problems)


def _span(matching):
    if len(matching) == 1:
        return matching[0]["version"]
    return "{} .. {}".format(matching[0]["version"], matching[-1]["version"])


def _apply_exact(obs, result, releases, matching, problems):
    version = obs.version_string
    result["version"] = version
    result["codename"] = obs.release_name or _codename(releases, version)
    result["evidence"].append("{} reports {}".format(obs.version_source or "the library", version))
    if not matching:
        result["confidence"] = "medium"
        return
    key = version_key(version)
    lo = version_key(matching[0]["version"])
    hi = version_key(result["before"]) if result["before"] else None
    if key >= lo and (hi is None or key < hi):
        result["confidence"] = "high"
    else:
        result["confidence"] = "low"
        problems.append(Problem(
            "release.disagree", "warning",
            "{} says Ceph {} but librbd's functions match {}{}".format(
                obs.version_source or "the library", version, matching[0]["version"],
                " .. before " + result["before"] if result["before"] else " or later"),
            "a vendor backport or mixed packages: check which package owns each library file"))


def _codename(releases, version):
    """Codename of the newest known release not newer than ``version`` (releases sorted)."""
    best = None
    for rel in releases:
        if version_key(rel["version"]) <= version_key(version):
            best = rel
    return best.get("codename") if best else None


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
    real libceph-common), but anchored on the dots: a pattern that starts with NUL tries a
    match at each of the ~40,000 NULs of a 700 KB .rodata (1.3 ms); dots are rare (0.3 ms).
    """
    REGEX = re.compile(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})\x00")
    _tail = re.compile(rb"\.\d{1,2}\.\d{1,3}\x00")

    def finditer(self, data):
        found = []
        for match in self._tail.finditer(data):
            dot = match.start()
            start = dot
            while start > 0 and dot - start < 2 and data[start - 1:start].isdigit():
                start -= 1
            if start == dot or start == 0 or data[start - 1:start] != b"\x00":
                continue
            found.append(_Found(start - 1, data[start:match.end() - 1]))
        return found


_VERSION_IN_RODATA = _VersionFinder()


def version_string_pattern():
    """The finder for CEPH_GIT_NICE_VER in .rodata (``finditer`` like a compiled regex)."""
    return _VERSION_IN_RODATA


FACT_KEYS = ("rbd_features_all", "default_format", "default_features", "feature_names_accepted",
             "format1_create", "rbd_create_format", "libceph_common_soname")


def release_facts(release, releases):
    """{key: (value, source)} for the identified release; (None, reason) where not determined.

    With an exact version the newest entry of the same series not newer than it answers; with
    a range every entry inside it must agree, or the fact stays undetermined.
    """
    releases = sorted(releases, key=lambda r: version_key(r["version"]))
    facts = {}
    if not release or (release.get("version") is None and release.get("min") is None):
        return {key: (None, "release not identified") for key in FACT_KEYS}
    if release.get("version"):
        version = release["version"]
        same = [r for r in releases if series(r["version"]) == series(version)
                and version_key(r["version"]) <= version_key(version)]
        pool = same[-1:] if same else []
        if not pool:
            return {key: (None, "no knowledge-base entry for the {} series".format(".".join(map(str, series(version)))))
                    for key in FACT_KEYS}
    else:
        lo = version_key(release["min"])
        hi = version_key(release["before"]) if release.get("before") else None
        pool = [r for r in releases if version_key(r["version"]) >= lo and (hi is None or version_key(r["version"]) < hi)]
    for key in FACT_KEYS:
        values = []
        for rel in pool:
            field = rel.get(key)
            if not isinstance(field, dict) or (field.get("value") is None and "unverified" in field):
                values.append((None, "{}: {}".format(rel["version"], (field or {}).get("unverified", "not recorded"))))
            else:
                values.append((field.get("value"), "{} ({})".format(field.get("source"), rel["version"])))
        distinct = {repr(v) for v, _ in values}
        if values and len(distinct) == 1 and values[0][0] is not None or (values and len(distinct) == 1 and key == "libceph_common_soname"):
            facts[key] = values[-1]
        elif not values:
            facts[key] = (None, "no knowledge-base entry in the identified range")
        else:
            facts[key] = (None, "undetermined: " + "; ".join(s for _, s in values[:3]))
    return facts
