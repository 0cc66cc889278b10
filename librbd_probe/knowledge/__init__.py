"""The knowledge layer: every Ceph fact this package uses, and the questions asked of it.

The facts live in the JSON files of ``librbd_probe/knowledge/data`` (each value with its
source; a JSON Schema beside each file).  This module reads each file once, lazily at the
first question (never at import), through the package's own loader (zip- and egg-safe, like
``pkgutil.get_data``), and turns it into immutable records: named tuples, tuples and
read-only mappings.  Every module asks the questions here; nothing re-derives them.

    from librbd_probe import knowledge as kn
    kn.release_label("16.2.15")          # '16.2.15 (pacific)'
    kn.feature_names(0x3d)               # ('layering', 'exclusive-lock', 'object-map', ...)
    kn.first_release_text("rbd_clone3")  # 'first released in 15.2.0'

A malformed file is a packaging bug and raises KnowledgeBaseError naming the file.
"""
import os
import sys

from .._lazy import Pattern, memo
from ..errors import KnowledgeBaseError
from ..model import MappingProxyType, Record

SCHEMA_VERSION = 1
#: The data files (each with ``<name>.schema.json`` beside it).
FILES = ("capabilities.json", "releases.json", "librbd_symbols.json", "librados_symbols.json",
         "features.json", "errors.json", "libraries.json", "ceph_features.json", "cxx_exports.json",
         "explain.json", "symbol_versions.json", "config_parsing.json")
#: The libraries whose exported functions the knowledge base lists (``<library>_symbols.json``).
SYMBOL_LIBRARIES = ("librbd", "librados")
#: Per-release facts of releases.json: each ``{"value": ..., "source": ...}`` or
#: ``{"value": null, "unverified": reason}``.
RELEASE_FACTS = ("rbd_version", "rados_version", "rbd_features_all", "default_format",
                 "default_features", "feature_names_accepted", "format1_create",
                 "rbd_create_format", "libceph_common_soname")

_EMPTY = MappingProxyType({})


# ---------------------------------------------------------------------------------------
# Records (immutable).  Fields are only ever added, never renamed.

class Fact(metaclass=Record, fields="value source unverified", defaults=(None, None, None)):
    """One sourced value: ``value`` with its ``source``, or None with the ``unverified`` reason."""
    __slots__ = ()

    @property
    def verified(self):
        return self.unverified is None and self.source is not None


class Release(
        metaclass=Record,
        fields="version key codename verified source_kind source tag unverified "
        "rbd_version rados_version libceph_common_soname rbd_features_all default_format "
        "default_features feature_names_accepted format1_create rbd_create_format "
        "librbd_digest librados_digest debian_version header_vs_exports facts"):
    """A release entry of releases.json (an API-change point or a verified build).

    ``verified`` is False for placeholders whose sources were not reachable (no facts, no
    symbol data).  Fact fields hold the bare value (tuples for version triples, None when
    unverified); ``facts`` maps each fact name to its Fact (value, source, unverified).
    """
    __slots__ = ()


class Effect(
        metaclass=Record,
        fields="situation effect min max verified source note summary",
        defaults=(None, None)):
    """What a create asking for a feature does in ``situation`` ("alone": without the features
    it requires; "at-create": an internal bit, or data-pool without a data pool; "with-data-pool";
    "no-stripe-settings"), for releases ``min`` <= v <= ``max`` (both ends releases that were
    read).  ``effect``: EINVAL | dropped | kept | set | removed-rc0 (``summary``: a short phrase,
    ``note``: the long one).  Outside every range the effect is unknown."""
    __slots__ = ()

    def covers(self, version):
        key = version_key(version)
        return version_key(self.min) <= key <= version_key(self.max)


class Feature(
        metaclass=Record,
        fields="bit name mask macro first_release internal implicit mutable single_client requires "
        "requires_effect requires_source dropped_at_create dropped_source krbd_since "
        "krbd_unverified class_source source effects create_via create_via_source"):
    """An RBD image feature bit (features.json).  ``create_via``: how a caller gets the bit
    other than by asking for it (data-pool: by giving a data pool), with its source."""
    __slots__ = ()


class Function(metaclass=Record, fields="name library first exact backports removed note source"):
    """An exported C function of librbd or librados (``<library>_symbols.json``).

    ``exact`` is False when ``first`` is only where it was first seen (a Debian build after
    a gap in the known releases) or the oldest release known.
    """
    __slots__ = ()


class CapabilityDef(
        metaclass=Record,
        fields="id title requires needs_library binding source release_policy binding_source",
        defaults=(None, None)):
    """A capability: ``requires`` is a tuple of alternatives, each a tuple of functions;
    ``release_policy``: a release fact that can still refuse it (format1_create), or None."""
    __slots__ = ()


class Signature(
        metaclass=Record,
        fields="id title family analysis patterns cause fix source capability symbols generic "
        "key cause_id confidence decides keywords anchors context superseded_by userspace",
        defaults=(None,) * 9):
    """An error signature for ``explain`` (errors.json): the matcher's keys (``keywords``,
    ``anchors``, ``context``, ``superseded_by``) and the finding's (``cause_id``, ``confidence``,
    ``decides``, ``userspace``) beside the original ones."""
    __slots__ = ()


class Library(
        metaclass=Record,
        fields="name soname soname_source packages packages_source c_prefixes cxx_namespaces symbols_source"):
    """A Ceph client library (libraries.json); ``packages`` maps distribution -> package names."""
    __slots__ = ()


# ---------------------------------------------------------------------------------------
# Loading

def _get_data(resource):
    """``pkgutil.get_data(__name__, resource)``, done without importing pkgutil.

    Asks the package's own loader (zip- and egg-safe, like pkgutil); pkgutil itself pulls in
    typing on Python 3.11+, several milliseconds on every command-line run.
    """
    package = sys.modules[__name__]
    loader = package.__spec__.loader
    path = os.path.join(os.path.dirname(package.__file__), *resource.split("/"))  # pragma: no mutate (POSIX: same path)
    return loader.get_data(path)


@memo
def load(name):
    """The parsed data file ``name`` as plain JSON (cached; never mutate it).

    For the records use the questions below; this is for tools (kb_from_headers) and the tests.
    """
    raw = _raw(name)
    entry = _compiled_entry(raw, _compiled_blob(name))
    doc = _compiled_part(entry, 3) if entry is not None else None
    if doc is None:
        try:
            doc = _json_loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise KnowledgeBaseError("data/{}: invalid JSON: {}".format(name, exc)) from exc
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise KnowledgeBaseError("data/{}: schema_version must be {}".format(name, SCHEMA_VERSION))
    return doc


def _raw(name):
    """The bytes of data file ``name``."""
    try:
        raw = _get_data("data/" + name)
    except OSError as exc:
        raise KnowledgeBaseError("data/{}: cannot be read: {}".format(name, exc)) from exc
    if raw is None:
        raise KnowledgeBaseError("data/{}: not shipped with the package".format(name))
    return raw


# The data files decoded once, at build time (setup.py's build_py calls ``compile_data``):
# beside each data/NAME.json, NAME.json.marshal holds the file's size and CRC-32, the decoded
# document (every repeated string stored once) and the tables derived from that document alone
# (``_DERIVERS``: release rows, feature rows, function spans with parsed versions), each of the
# two as a marshal blob with its own CRC-32.  A compiled file is used only when the JSON file
# shipped beside it has exactly that size and CRC (an edited or replaced file is decoded
# itself), and a blob only when its CRC holds (a damaged one is not read), so the result is
# always the JSON file's.  The document is unmarshalled only when asked for (``load``): a scan
# that needs only a table (``_derived``) never decodes librbd's 540 function entries.
# Decoding the seven files a scan reads costs about 3.4 ms in a fresh process, building the
# release, feature and function tables from them 2.5 ms more; from the compiled files, both
# together take about 1 ms (bench/bench_startup.py).  No compiled file (a checkout), an
# unreadable, damaged or foreign one: the JSON is decoded and the tables are derived at run
# time, by the same functions.
COMPILED_SUFFIX = ".marshal"
_COMPILED_FORMAT = "librbd_probe knowledge 3"
def _compiled_blob(name):
    """The bytes of data file ``name``'s compiled file, or None (a checkout has none: looked
    for once)."""
    if name in _NOT_COMPILED:
        return None
    try:
        blob = _get_data("data/" + name + COMPILED_SUFFIX) or None
    except OSError:
        blob = None
    if blob is None:
        _NOT_COMPILED.add(name)
    return blob


#: the data files found to have no compiled file
_NOT_COMPILED = set()


def _compiled_entry(raw, blob):
    """The compiled entry ``blob`` holds if it was compiled from exactly the data file bytes
    ``raw``: (format, size, CRC-32, document blob CRC, document blob, tables blob CRC, tables
    blob); None for no, a damaged or a foreign blob."""
    if not blob:
        return None
    import marshal
    try:
        entry = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(entry, tuple) and len(entry) == 7 and entry[0] == _COMPILED_FORMAT
            and entry[1] == len(raw) and all(isinstance(entry[i], bytes) for i in (4, 6))):
        return None
    import zlib
    return entry if entry[2] == zlib.crc32(raw) else None


def _compiled_part(entry, index):
    """The document (``index`` 3) or the tables (5) of a compiled entry: unmarshalled when
    the blob's CRC holds, else None."""
    import marshal
    import zlib
    crc, blob = entry[index], entry[index + 1]
    if zlib.crc32(blob) != crc:
        return None
    try:
        return marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None


@memo
def _compiled_tables(name):
    """{table: value} compiled beside data file ``name`` ({} without a usable compiled file)."""
    blob = _compiled_blob(name)
    if blob is None:
        return {}                                   # (the data file is read once, by load)
    entry = _compiled_entry(_raw(name), blob)
    tables = _compiled_part(entry, 5) if entry is not None else None
    return tables if isinstance(tables, dict) else {}


def _derived(name, table):
    """Table ``table`` of data file ``name``: as compiled beside it at build time, or derived
    from its document now (``_DERIVERS``; the same function made the compiled one)."""
    compiled = _compiled_tables(name)
    if table in compiled:
        return compiled[table]
    return _DERIVERS[name][table](load(name))


def _plain_immutable(value):
    """Is ``value`` made of None, bool, int, float, str and tuples only (what marshal gives
    back equal and of the same types, and what a record may hold as it is)?"""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return type(value) is tuple and all(_plain_immutable(v) for v in value)


def derived_tables(name, doc):
    """{table: value} of data file ``name``'s document ``doc``, for its compiled file: each
    derivable table, unless the document is malformed for it (then the run derives it and
    raises KnowledgeBaseError there, as without a compiled file) or it holds values marshal
    would not give back as they are."""
    out = {}
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        return out                          # load raises it, before any table is asked for
    for table, derive in sorted(_DERIVERS.get(name, {}).items()):
        try:
            value = derive(doc)
        except KnowledgeBaseError:
            continue
        if _plain_immutable(value):
            out[table] = value
    return out


def compiled_bytes(raw, name=None):
    """The compiled form of data file ``name``'s bytes ``raw`` (what ``load`` takes from
    NAME.json.marshal): (format, size, CRC-32, then the CRC and marshal blob of the document
    with each repeated string stored once, then those of the tables of ``derived_tables``, none
    without ``name``)."""
    import json
    import marshal
    import zlib
    shared = {}

    def once(value):
        if isinstance(value, str):
            return shared.setdefault(value, value)
        if isinstance(value, list):
            return [once(v) for v in value]
        if isinstance(value, dict):
            return {once(k): once(v) for k, v in value.items()}
        if isinstance(value, tuple):
            return tuple(once(v) for v in value)
        return value
    doc = json.loads(raw.decode("utf-8"))
    tables = derived_tables(name, doc) if name is not None else {}
    doc_blob, tables_blob = marshal.dumps(once(doc), 4), marshal.dumps(once(tables), 4)
    return marshal.dumps((_COMPILED_FORMAT, len(raw), zlib.crc32(raw), zlib.crc32(doc_blob), doc_blob,
                          zlib.crc32(tables_blob), tables_blob), 4)


def compiled_names(names):
    """The data files that get a compiled form: all but the JSON Schemas."""
    return sorted(n for n in names if n.endswith(".json") and not n.endswith(".schema.json"))


def compile_data(directory, names=None):
    """Write NAME.json.marshal beside each data file in ``directory`` (``compiled_names``, or
    ``names``); returns the paths written.  Build time only (setup.py, tools/build_pyz.py)."""
    names = compiled_names(os.listdir(directory)) if names is None else list(names)
    written = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as handle:
            blob = compiled_bytes(handle.read(), name)
        target = os.path.join(directory, name + COMPILED_SUFFIX)
        with open(target + ".tmp", "wb") as handle:
            handle.write(blob)
        os.replace(target + ".tmp", target)
        written.append(target)
    return written


def _json_loads(text):
    from .._jsonload import loads       # here: a compiled document needs no JSON decoder (_json)
    return loads(text)


def _bad(name, what):
    return KnowledgeBaseError("data/{}: {}".format(name, what))


def _tuple(value):
    """JSON lists -> tuples, recursively (dicts -> read-only mappings)."""
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    if isinstance(value, dict):
        return MappingProxyType({k: _tuple(v) for k, v in value.items()})
    return value


def _entries(name, key, kind=list, doc=None):
    doc = load(name) if doc is None else doc
    entries = doc.get(key)
    if not isinstance(entries, kind):
        raise _bad(name, "'{}' must be {}".format(key, "a list" if kind is list else "an object"))
    return entries


# ---------------------------------------------------------------------------------------
# Versions

_VERSION = Pattern(r"\s*(?:\d+:)?[vV]?(\d+(?:\.\d+)*)")
_MAX_PARTS, _MAX_PART_DIGITS = 16, 18


def _digits_end(text, pos, most):
    """End of the run of decimal digits (``\\d``: Unicode Nd, str.isdecimal) at ``pos``,
    looking at no more than ``most`` + 1 characters."""
    end = pos
    stop = min(len(text), pos + most + 1)
    while end < stop and text[end].isdecimal():
        end += 1
    return end


def _version_parts(text):
    """The parts of group 1 of ``_VERSION.match(text)`` (``"16.2.15" -> ["16", "2", "15"]``),
    None when it does not match, or () when the group has more than _MAX_PARTS parts or a part
    of more than _MAX_PART_DIGITS digits (not a version: version_key's (-1,)).  Without re for
    what versions look like (a scan matches no regex on a host without ceph.conf: _lazy); a run
    of digits longer than a part may be asks the regex itself, so the steps stay bounded
    whatever the length of ``text`` (a saved report may hold megabytes).
    tests/test_fastpaths.py compares the two on random text."""
    body = text.lstrip()                                 # \s*: str.isspace's set
    starts = []
    end = _digits_end(body, 0, _MAX_PART_DIGITS)
    if end > _MAX_PART_DIGITS:
        return _version_parts_regex(text)
    if end and body[end:end + 1] == ":":
        starts.append(end + 1)                           # (?:\d+:)? taken first, then left out
    starts.append(0)
    for start in starts:
        if body[start:start + 1] in ("v", "V"):
            start += 1
        end = _digits_end(body, start, _MAX_PART_DIGITS)
        if end == start:
            continue
        parts = [body[start:end]]
        while body[end:end + 1] == "." and len(parts[-1]) <= _MAX_PART_DIGITS and len(parts) <= _MAX_PARTS:
            after = _digits_end(body, end + 1, _MAX_PART_DIGITS)
            if after == end + 1:
                break
            parts.append(body[end + 1:after])
            end = after
        if len(parts[-1]) > _MAX_PART_DIGITS or len(parts) > _MAX_PARTS:
            return _version_parts_regex(text)
        return parts
    return None


def _version_parts_regex(text):
    match = _VERSION.match(text)
    if not match:
        return None
    parts = match.group(1).split(".")
    return () if len(parts) > _MAX_PARTS or any(len(part) > _MAX_PART_DIGITS for part in parts) else parts


@memo(maxsize=4096)  # pragma: no mutate (cache size: speed only)
def version_key(text):
    """Upstream order of a Ceph version string: '16.2.15' -> (16, 2, 15).

    A vendor or distribution suffix orders as its upstream version ('17.2.6-1234-gabcdef',
    '18.2.4-0ubuntu0.24.04.1', '16.2.10-208.el9cp', '16.2.15+ds-0+deb12u2', a Debian
    epoch '2:16.2.15-1', a tag 'v0.48argonaut').  Text without a leading number sorts
    first, as (-1,).  Never raises.
    """
    parts = _version_parts(str(text))
    if not parts:
        return (-1,)            # no version, or a saved report or log holding 5,000 digits (int's limit)
    return tuple(int(part) for part in parts)


def upstream_version(text):
    """'16.2.15+ds-0+deb12u2' -> '16.2.15'; None when the text carries no version."""
    key = version_key(text)
    return None if key == (-1,) else ".".join(map(str, key))


def series(text):
    """The release series a version belongs to: (16,) for 16.2.15, (0, 48) for 0.48.1.

    From 9.x (infernalis) on, the major number names the release; before, 0.<minor> did.
    """
    return series_of_key(version_key(text))


def series_of_key(key):
    """series() of a parsed version_key() tuple."""
    if key == (-1,):
        return key
    return key[:2] if key[0] == 0 else key[:1]


# ---------------------------------------------------------------------------------------
# Releases

def _fact(name, version, key, field):
    if field is None:
        return Fact(None, None, "not recorded")
    if not isinstance(field, dict) or "value" not in field:
        raise _bad(name, "release {} field {!r} must be an object with a value".format(version, key))
    value = _tuple(field.get("value"))
    if field.get("unverified") or (value is None and not field.get("source")):
        return Fact(value, field.get("source"), field.get("unverified") or "not recorded")
    if not field.get("source"):
        raise _bad(name, "release {} field {!r} has a value without a source".format(version, key))
    return Fact(value, field["source"], None)


def _release_rows(doc):
    """releases.json's entries as rows (sorted by version): each Release's fields in order,
    ``header_vs_exports`` as its items, ``facts`` as (key, value, source, unverified) tuples."""
    name = "releases.json"
    out = []
    for entry in _entries(name, "releases", doc=doc):
        version = entry.get("version") if isinstance(entry, dict) else None
        if not isinstance(version, str):
            raise _bad(name, "every release needs a version string")
        verified = entry.get("source_kind") != "unverified"
        facts = tuple((key,) + tuple(_fact(name, version, key, entry.get(key))) for key in RELEASE_FACTS)
        values = {key: value for key, value, _, _ in facts}
        header = entry.get("header_vs_exports")
        out.append((
            version, version_key(version), entry.get("codename"), verified, entry.get("source_kind"),
            entry.get("ref") if verified else None, entry.get("tag"), entry.get("unverified"))
            + tuple(values[key] for key in _RELEASE_FACT_FIELDS)
            + (entry.get("librbd_digest"), entry.get("librados_digest"), entry.get("debian_version"),
               _header_cell(header), facts))
    out.sort(key=lambda row: row[1])
    return tuple(out)


def _header_cell(header):
    """header_vs_exports in a row: (True, items) for a mapping (none: the empty one), else
    (False, the value as ``_tuple`` makes it)."""
    if header is None or isinstance(header, dict):
        return True, tuple((k, _tuple(v)) for k, v in (header or {}).items())
    return False, _tuple(header) or _EMPTY


#: the Release fields that hold a fact's bare value, in field order
_RELEASE_FACT_FIELDS = Release._fields[Release._fields.index("rbd_version"):Release._fields.index("librbd_digest")]


@memo
def releases():
    """All release entries as Release records, sorted by version."""
    new = tuple.__new__
    out = []
    for row in _derived("releases.json", "release_rows"):
        (mapping, header), facts = row[-2], row[-1]
        if mapping:
            header = MappingProxyType(dict(header)) if header else _EMPTY
        facts = MappingProxyType({key: new(Fact, (value, source, unverified))
                                  for key, value, source, unverified in facts})
        out.append(new(Release, row[:-2] + (header, facts)))
    return tuple(out)


def release(version):
    """The entry for exactly ``version`` (vendor suffixes ignored), or None."""
    key = version_key(version)
    for rel in releases():
        if rel.key == key:
            return rel
    return None


def release_for(version):
    """The release ``version`` belongs to: the newest entry <= it in the same series, or None.

    None for a version before the series' first known entry (a development release) or of a
    series the knowledge base does not know (newer than its newest release).
    """
    key = version_key(version)
    if key == (-1,):
        return None
    wanted = series(version)
    best = None
    for rel in releases():
        if rel.key <= key and series(rel.version) == wanted:
            best = rel
    return best


def codename(version):
    """'16.2.15' -> 'pacific'; None when the version's series is unknown."""
    rel = release_for(version)
    return rel.codename if rel else None


def release_label(version):
    """'16.2.15 (pacific)'; the bare version text when its codename is unknown."""
    name = codename(version)
    return "{} ({})".format(version, name) if name else str(version)


def known_mask(version):
    """RBD_FEATURES_ALL of the release ``version`` belongs to; None when not known."""
    rel = release_for(version)
    return rel.rbd_features_all if rel else None


# ---------------------------------------------------------------------------------------
# Features

def _effects(name, entry):
    """A feature's effects as Effect rows (each Effect's fields in order)."""
    out = []
    for item in entry.get("effects") or ():
        if not (isinstance(item, dict) and item.get("situation") and item.get("effect")
                and (item.get("source") or item.get("verified") is False)):
            raise _bad(name, "feature {!r}: malformed effect {!r}".format(entry.get("name"), item))
        if not (isinstance(item.get("min"), str) and isinstance(item.get("max"), str)):
            raise _bad(name, "feature {!r}: effect without min/max".format(entry.get("name")))
        out.append((item["situation"], item["effect"], item["min"], item["max"],
                    bool(item.get("verified", True)), item.get("source"), item.get("note"),
                    item.get("summary") or item["effect"]))
    return tuple(out)


def _feature_rows(doc):
    """features.json's features as rows (by bit): each Feature's fields in order, ``effects``
    as Effect rows."""
    name = "features.json"
    out = []
    for entry in _entries(name, "features", doc=doc):
        if not (isinstance(entry.get("bit"), int) and entry.get("name") and entry.get("source")
                and entry.get("mask") == 1 << entry["bit"]):
            raise _bad(name, "malformed feature {!r}".format(entry.get("name")))
        out.append((
            entry["bit"], entry["name"], entry["mask"], entry.get("macro"), entry.get("first"),
            bool(entry.get("internal")), bool(entry.get("implicit")), bool(entry.get("mutable")),
            bool(entry.get("single_client")), tuple(entry.get("requires") or ()),
            entry.get("requires_effect"), entry.get("requires_source"),
            bool(entry.get("dropped_at_create")), entry.get("dropped_source"), entry.get("krbd_since"),
            entry.get("krbd_unverified"), entry.get("class_source"), entry["source"],
            _effects(name, entry), entry.get("create_via"), entry.get("create_via_source")))
    out.sort(key=lambda row: row[0])
    return tuple(out)


_EFFECTS_AT = Feature._fields.index("effects")


@memo
def features():
    """The RBD feature bits as Feature records, by bit."""
    new = tuple.__new__
    return tuple(new(Feature, row[:_EFFECTS_AT] + (tuple(new(Effect, e) for e in row[_EFFECTS_AT]),)
                     + row[_EFFECTS_AT + 1:])
                 for row in _derived("features.json", "feature_rows"))


@memo
def _features_by_name():
    return MappingProxyType({f.name: f for f in features()})


def feature(name_or_bit):
    """The Feature named ``name`` (or with that bit number), or None."""
    if isinstance(name_or_bit, int):
        for feat in features():
            if feat.bit == name_or_bit:
                return feat
        return None
    return _features_by_name().get(name_or_bit)


def feature_names(mask):
    """Names of the bits set in ``mask``, by bit; bits the knowledge base does not know are 'bit N'."""
    mask = int(mask)
    known = {f.bit: f.name for f in features()}
    out = []
    bit = 0
    while mask >> bit:
        if mask >> bit & 1:
            out.append(known.get(bit, "bit {}".format(bit)))
        bit += 1
    return tuple(out)


_SPLIT = Pattern(r"[\s,+|]+")


_BIT = Pattern(r"bit \d+$")


def feature_mask(names):
    """The mask of feature ``names``: an int, a name, 'a,b' / 'a+b' text, or an iterable of
    names and ints (digits count as a number, as in ceph.conf).  Raises KnowledgeBaseError
    for an unknown name."""
    if isinstance(names, int):
        return names
    if isinstance(names, str):
        # the non-empty pieces of _SPLIT.split(names): \s is str.isspace's set, as str.split()'s
        names = names.replace(",", " ").replace("+", " ").replace("|", " ").split()
    by_name = _features_by_name()
    mask = 0
    for item in names:
        if isinstance(item, int):
            mask |= item
        elif isinstance(item, str) and item.strip().isdigit():
            mask |= int(item.strip())
        elif item in by_name:
            mask |= by_name[item].mask
        elif isinstance(item, str) and _BIT.match(item):
            mask |= 1 << int(item[4:])
        else:
            raise KnowledgeBaseError("unknown RBD feature name {!r} (known: {})".format(
                item, ", ".join(f.name for f in features())))
    return mask


def feature_effect(name, situation, versions):
    """The Effect of asking for feature ``name`` in ``situation`` for ``versions`` (one version
    string or several: the releases an identification spans): every version must lie in a
    recorded range and all must agree; None (unknown) otherwise.  Ranges stop at series
    boundaries: version order is not time order (14.2.21 came out after 15.2.7)."""
    feat = feature(name)
    if feat is None:
        return None
    if isinstance(versions, str):
        versions = (versions,)
    versions = tuple(versions)
    if not versions:
        return None
    found = []
    for version in versions:
        covering = [e for e in feat.effects if e.situation == situation and e.covers(version)]
        if not covering:
            return None
        found.append(covering[0])
    if len({e.effect for e in found}) != 1:
        return None
    return max(found, key=lambda e: version_key(e.max))


def feature_count():
    """How many feature bits the knowledge base knows (bits 0 .. count-1)."""
    return len(features())


# ---------------------------------------------------------------------------------------
# Functions (the exported C API of librbd and librados)

@memo
def _function_entries(library):
    """The checked entries of ``library``'s symbols file: ((name, entry), ...)."""
    return _symbol_entries(library)


def _symbols_file(library):
    """``library``'s symbols file name; KnowledgeBaseError for a library without one."""
    if library not in SYMBOL_LIBRARIES:
        raise KnowledgeBaseError("no symbols file for {!r} (known: {})".format(library, ", ".join(SYMBOL_LIBRARIES)))
    return "{}_symbols.json".format(library)


def _symbol_entries(library, doc=None):
    """The checked entries of ``library``'s symbols file (or of its document ``doc``)."""
    name = _symbols_file(library)
    symbols = _entries(name, "symbols", dict, doc=doc)
    for fname, entry in symbols.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("first"), str) and entry.get("source")):
            raise _bad(name, "malformed entry {!r}".format(fname))
    return tuple(symbols.items())


@memo
def functions(library):
    """Function records of ``library`` ('librbd' or 'librados'), as a read-only mapping name -> Function."""
    oldest = releases()[0].version if releases() else None
    out = {}
    for fname, entry in _function_entries(library):
        source = entry["source"]
        seen_only = source.startswith("Debian ")
        out[fname] = Function(
            name=fname, library=library, first=entry["first"],
            exact=not seen_only and entry["first"] != oldest,
            backports=tuple(sorted(entry.get("backports") or (), key=version_key)),
            removed=entry.get("removed"), note=entry.get("note"), source=source)
    return MappingProxyType(out)


def _span_keys(library):
    def derive(doc):
        return tuple((fname, version_key(first), version_key(removed) if removed else None,
                      tuple(version_key(b) for b in backports))
                     for fname, first, removed, backports in _spans(library, doc))
    return derive


@memo
def function_span_keys(library):
    """``function_spans`` with each version parsed (``version_key``): the table release
    matching runs over (identify)."""
    return _derived(_symbols_file(library), "span_keys")


@memo
def function_spans(library):
    """((name, first, removed, backports), ...) of ``library``'s functions: what ``functions``
    holds for release matching (identify), without making a record of each (a scan's start-up:
    bench/bench_startup.py); versions as written, backports sorted as in Function."""
    return _spans(library, None)


def _spans(library, doc):
    return tuple((fname, entry["first"], entry.get("removed"),
                  tuple(sorted(entry.get("backports") or (), key=version_key)))
                 for fname, entry in _symbol_entries(library, doc))


def function(name):
    """The Function record of an exported C function of librbd or librados, or None."""
    for library in SYMBOL_LIBRARIES:
        found = functions(library).get(name)
        if found is not None:
            return found
    return None


def present_in(func, version):
    """Does release ``version`` export ``func`` (a Function or its name)?  None when unknown."""
    if isinstance(func, str):
        func = function(func)
        if func is None:
            return None
    key = version_key(version)
    if func.removed and key >= version_key(func.removed):
        return False
    if key >= version_key(func.first):
        return True
    same = series(version)
    return any(series(b) == same and key >= version_key(b) for b in func.backports)


def expected_functions(library, version):
    """frozenset of the functions of ``library`` that release ``version`` exports."""
    return frozenset(name for name, func in functions(library).items() if present_in(func, version))


def first_release_text(name):
    """Honest wording of when a function appeared, with its backports."""
    func = function(name)
    if func is None:
        return "not in the knowledge base"
    if func.source.startswith("Debian "):
        text = "first seen in {} (Debian build; exact first release unverified)".format(func.first)
    elif not func.exact:
        text = "present in {}, the oldest release known".format(func.first)
    else:
        text = "first released in {}".format(func.first)
    if func.backports:
        text += " (backported to {})".format(", ".join(sorted(func.backports, key=version_key, reverse=True)))
    if func.removed:
        text += ", removed in {}".format(func.removed)
    return text


# ---------------------------------------------------------------------------------------
# Libraries: sonames, packages, symbol naming

@memo
def libraries():
    """Library records (libraries.json)."""
    name = "libraries.json"
    out = []
    for entry in _entries(name, "libraries"):
        if not (isinstance(entry, dict) and entry.get("name") and entry.get("soname")
                and entry.get("soname_source") and isinstance(entry.get("packages"), dict)
                and entry.get("packages_source")):
            raise _bad(name, "malformed library {!r}".format(entry.get("name") if isinstance(entry, dict) else entry))
        out.append(Library(
            name=entry["name"], soname=entry["soname"], soname_source=entry["soname_source"],
            packages=_tuple(entry["packages"]), packages_source=entry["packages_source"],
            c_prefixes=tuple(entry.get("c_prefixes") or ()),
            cxx_namespaces=tuple(entry.get("cxx_namespaces") or ()),
            symbols_source=entry.get("symbols_source")))
    return tuple(out)


def library(name):
    """The Library record named ``name`` ('librbd', 'librados', ...); KnowledgeBaseError if unknown."""
    for lib in libraries():
        if lib.name == name:
            return lib
    raise KnowledgeBaseError("unknown library {!r} (known: {})".format(
        name, ", ".join(lib.name for lib in libraries())))


def soname(name, version=None):
    """The SONAME of library ``name``; with ``version``, libceph-common's of that release
    (libceph-common.so.0 in 14.x) when the knowledge base records it."""
    if version is not None and name == "libceph-common":
        rel = release_for(version)
        if rel is not None and rel.libceph_common_soname:
            return rel.libceph_common_soname
    return library(name).soname


def packages(name):
    """Read-only mapping distribution -> tuple of package names shipping library ``name``
    (source: ``library(name).packages_source``)."""
    return library(name).packages


def install_dirs():
    """Directories outside the loader's default search where Ceph libraries are installed
    in practice (reported as extra candidates, never chosen)."""
    return Fact(*_install_dirs())


@memo
def _install_dirs():
    field = load("libraries.json").get("install_dirs")
    if not (isinstance(field, dict) and isinstance(field.get("value"), list) and field.get("source")):
        raise _bad("libraries.json", "'install_dirs' must be an object with a value list and a source")
    return tuple(field["value"]), field["source"], None


def _mangled(namespace):
    return "".join("{}{}".format(len(part), part) for part in namespace.split("::"))


@memo
def _symbol_rules():
    """[(prefix, library)] longest first: C prefixes and the mangled-name prefixes of C++ namespaces."""
    rules = []
    for lib in libraries():
        for prefix in lib.c_prefixes:
            rules.append((prefix, lib.name, False))
        for namespace in lib.cxx_namespaces:
            rules.append((_mangled(namespace), lib.name, True))
    rules.sort(key=lambda rule: -len(rule[0]))
    return tuple(rules)


@memo
def _c_symbol_rules():
    """The C rules of _symbol_rules, in its order: [(prefix, library)]."""
    return tuple((prefix, lib) for prefix, lib, cxx in _symbol_rules() if not cxx)


# _Z [special: TV/TI/TS/Th<n>_/Tv<n>_<n>_] [N] [cv/ref qualifiers] <length><name>...
_MANGLED = Pattern(r"_Z(?:T[VIST]|Thn?\d+_|Tvn?\d+_n?\d+_|GV)?N?[rVKRO]*(?=\d)")


def library_of(symbol):
    """Which Ceph library exports ``symbol`` (a C name or a mangled C++ name, '@VERSION' ignored):
    'librbd', 'librados', 'libradosstriper', 'libceph-common', or None."""
    if isinstance(symbol, bytes):
        symbol = symbol.decode("ascii", "replace")
    symbol = symbol.split("@", 1)[0]
    if not symbol.startswith("_Z"):              # a C name: the C prefixes only, no regex
        for prefix, lib in _c_symbol_rules():
            if symbol.startswith(prefix):
                return lib
        return None
    match = _MANGLED.match(symbol)
    tail = symbol[match.end():] if match else None
    for prefix, lib, cxx in _symbol_rules():
        if cxx:
            if tail is not None and tail.startswith(prefix):
                return lib
        elif symbol.startswith(prefix):
            return lib
    return None


def names_of(names, library):
    """frozenset of the ``names`` that ``library_of`` gives to ``library``: the same answer,
    with one pass per C prefix over the plain C names instead of a Python call per name (a
    scan sorts some 500 functions this way)."""
    plain = []
    out = set()
    for name in names:
        if isinstance(name, str) and "@" not in name and not name.startswith("_Z"):
            plain.append(name)
        elif library_of(name) == library:
            out.add(name)
    for prefix, lib in _c_symbol_rules():            # longest first, as library_of tries them
        if not plain:
            break
        taken = [name for name in plain if name.startswith(prefix)]
        if taken:
            if lib == library:
                out.update(taken)
            taken = set(taken)
            plain = [name for name in plain if name not in taken]
    return frozenset(out)


@memo
def api_prefixes():
    """Name prefixes of the C API functions this package reasons about: ('rbd_', 'rados_')."""
    out = []
    for name in SYMBOL_LIBRARIES:
        out.extend(library(name).c_prefixes)
    return tuple(out)


@memo
def api_prefixes_bytes():
    """api_prefixes() as bytes (for filters over raw string tables)."""
    return tuple(p.encode("ascii") for p in api_prefixes())


def is_api_function(name):
    """The one exported-function filter: is ``name`` (str or bytes) an rbd_*/rados_* C API name?"""
    if isinstance(name, bytes):
        return name.startswith(api_prefixes_bytes())
    return isinstance(name, str) and name.startswith(api_prefixes())


# ---------------------------------------------------------------------------------------
# Capabilities and error signatures

@memo
def capabilities():
    """The capability definitions, in display order."""
    name = "capabilities.json"
    out = []
    for cap in _entries(name, "capabilities"):
        if not (isinstance(cap, dict) and isinstance(cap.get("id"), str) and isinstance(cap.get("requires"), list)
                and all(isinstance(alt, list) and alt for alt in cap["requires"]) and cap.get("source")):
            raise _bad(name, "malformed entry {!r}".format(cap.get("id") if isinstance(cap, dict) else cap))
        out.append(CapabilityDef(
            id=cap["id"], title=cap.get("title"), requires=_tuple(cap["requires"]),
            needs_library=cap.get("needs_library"), binding=cap.get("binding"), source=cap["source"],
            release_policy=cap.get("release_policy"), binding_source=cap.get("binding_source")))
    return tuple(out)


def capability(cap_id):
    """The CapabilityDef with id ``cap_id``, or None."""
    for cap in capabilities():
        if cap.id == cap_id:
            return cap
    return None


@memo
def error_signatures():
    """Error signatures for ``explain``, in file order."""
    name = "errors.json"
    out = []
    for sig in _entries(name, "signatures"):
        if not (isinstance(sig, dict) and sig.get("id") and isinstance(sig.get("patterns"), list) and sig.get("source")):
            raise _bad(name, "malformed signature {!r}".format(sig.get("id") if isinstance(sig, dict) else sig))
        out.append(Signature(
            id=sig["id"], title=sig.get("title"), family=sig.get("family"), analysis=sig.get("analysis"),
            patterns=tuple(sig["patterns"]), cause=sig.get("cause"), fix=sig.get("fix"), source=sig["source"],
            capability=sig.get("capability"), symbols=tuple(sig.get("symbols") or ()),
            generic=sig.get("generic"), key=sig.get("key"), cause_id=sig.get("cause_id"),
            confidence=sig.get("confidence"), decides=sig.get("decides"),
            keywords=_tuple(sig.get("keywords")), anchors=_tuple(sig.get("anchors")),
            context=sig.get("context"), superseded_by=_tuple(sig.get("superseded_by")),
            userspace=sig.get("userspace")))
    return tuple(out)


class ErrnoInfo(metaclass=Record, fields="number meaning see"):
    """What an errno means for librbd/librados callers (errors.json 'errno')."""
    __slots__ = ()


class ClusterFeature(metaclass=Record, fields="bit names client kernel profile source"):
    """A cluster feature bit and the first client/kernel that has it (errors.json)."""
    __slots__ = ()


class BindingKind(metaclass=Record, fields="kind note pattern source first last", defaults=(None, None)):
    """A Python binding era recognised in tracebacks (errors.json 'bindings'): ``first``/``last``
    the releases that shipped it (``last`` None: still shipped)."""
    __slots__ = ()


class Caller(metaclass=Record, fields="name note pattern source"):
    """A known caller recognised in tracebacks (errors.json 'callers')."""
    __slots__ = ()


def errno_info(number):
    """ErrnoInfo for errno ``number`` (positive or negative), or None."""
    entry = (load("errors.json").get("errno") or {}).get(str(abs(int(number))))
    if not isinstance(entry, dict):
        return None
    return ErrnoInfo(abs(int(number)), entry.get("meaning"), tuple(entry.get("see") or ()))


@memo
def cluster_features():
    return tuple(ClusterFeature(e.get("bit"), tuple(e.get("names") or ()), e.get("client"), e.get("kernel"),
                                e.get("profile"), e.get("source"))
                 for e in load("errors.json").get("cluster_features") or ())


@memo
def binding_kinds():
    return tuple(BindingKind(e.get("kind"), e.get("note"), e.get("pattern"), e.get("source"), e.get("first"), e.get("last"))
                 for e in load("errors.json").get("bindings") or ())


@memo
def callers():
    return tuple(Caller(e.get("name"), e.get("note"), e.get("pattern"), e.get("source"))
                 for e in load("errors.json").get("callers") or ())


# ---------------------------------------------------------------------------------------
# The tables derived from one data file each: computed at build time into its compiled file
# (``derived_tables``), or at run time by the same function (``_derived``).
_DERIVERS = {
    "releases.json": {"release_rows": _release_rows},
    "features.json": {"feature_rows": _feature_rows},
    "librbd_symbols.json": {"span_keys": _span_keys("librbd")},
    "librados_symbols.json": {"span_keys": _span_keys("librados")},
}
