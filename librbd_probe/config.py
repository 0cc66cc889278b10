"""The client configuration: which ceph.conf a client on this host reads, and what it asks for.

Values are read in the child by librados itself (rados_create + rados_conf_read_file +
rados_conf_get, never rados_connect).  When nothing can be loaded (static mode, foreign
architecture) ``parse_ceph_conf`` reads the file the way src/common/ConfUtils.cc does, and the
report says so.

Values are judged as librados judges them (``parse_option``: the rules of
knowledge/data/config_parsing.json, checked against a real librados 16.2.15 by
tools/config_oracle.py): a value librados rejects is a ``config.rejected-value`` problem, never an
exception.  Nothing here calls ``int()`` on unbounded text.

Secrets: the values of key, keyfile and keyring are never shown.  The keys of every keyring
the configuration names are read (``parse_keyring``, through safeio) only to be registered
with ``safeio.add_secrets`` and redacted from the report and from everything the CLI writes.
"""
import errno
import os
import stat

from . import knowledge as kn
from . import safeio
from ._lazy import Pattern, memo
from .errors import InputError
from .model import Problem
from .rootfs import Root

#: Options this tool reports; never add "key", "keyfile" or "keyring".
KEYS = ("rbd_default_features", "rbd_default_format", "rbd_default_stripe_unit",
        "rbd_default_stripe_count", "rbd_default_data_pool")
#: Options whose values are, or name, secrets: read to redact, never reported.
SECRET_KEYS = ("key", "keyfile", "keyring")
#: What is shown of a raw value in a message (a 4,301-digit value stays readable).
_SHOW = 64


def search_path(explicit=None, environ=None, root=None, cwd=None, cluster="ceph"):
    """Candidate files in librados's order (src/common/config.cc, CEPH_CONF_FILE_DEFAULT).

    ``--conf`` wins; else $CEPH_CONF, and then only its files: a list split at "," and ";"
    (md_config_t::get_conffile_paths: get_str_list(conf_files_str, ";,")), empty when it is set
    but empty; else /etc/ceph/<cluster>.conf, ~/.ceph/<cluster>.conf, ./<cluster>.conf (the real
    librados 16.2.15 asked: config_parsing.json conf_sources "CEPH_CONF search").  Under a root
    (a ``rootfs.Root`` or a directory name) only the system file is meaningful: the host's
    environment, home and current directory are not the target's.  Paths returned are host paths.
    """
    environ = os.environ if environ is None else environ
    if explicit:
        return [(explicit, "--conf")]
    root = Root.of(root)
    if not root.is_host:
        return [(root.host("/etc/ceph/{}.conf".format(cluster)), "root /etc/ceph")]
    if environ.get("CEPH_CONF") is not None:
        listed = environ["CEPH_CONF"].replace(";", ",").split(",")
        return [(path, "CEPH_CONF") for path in listed if path]
    out = [("/etc/ceph/{}.conf".format(cluster), "/etc/ceph")]
    home = environ.get("HOME")
    if home:
        out.append((os.path.join(home, ".ceph", "{}.conf".format(cluster)), "~/.ceph"))
    out.append((os.path.join(cwd or os.getcwd(), "{}.conf".format(cluster)), "current directory"))
    return out


def choose_file(candidates):
    """(path, source) of the first readable file, or (None, None)."""
    for path, source in candidates:
        if os.path.isfile(path):
            return path, source
    return None, None


def choose_conf(candidates):
    """(path, source, refusal) of the file a client would read: the first candidate that
    exists (directories and sockets passed over, as librados passes over them).  ``refusal``
    is the one-line reason when that file cannot be read safely (a FIFO, a device, over
    safeio.LIMITS["ceph.conf"]): then nothing is read from it, by this process nor by librados
    in the child (a FIFO would block the client in rados_conf_read_file).

    The null device is an empty file wherever it is named (--conf, $CEPH_CONF, a link at
    /etc/ceph/ceph.conf): librados 16.2.15 reads it so (config_parsing.json conf_sources) and
    ``-c /dev/null`` is Ceph's own idiom for "no configuration"."""
    for path, source in candidates:
        if not os.path.lexists(path):
            continue
        if safeio.is_null_device(path):
            return path, source, None
        try:
            info = safeio.check_regular(path, "ceph.conf")
        except InputError as exc:
            # a dangling link, a directory or a socket: librados 16.2.15 gets -ENOENT and tries
            # the next file (config_parsing.json file_kinds), so does this search
            if not os.path.exists(path) or "is a directory" in str(exc) or "is a socket" in str(exc):
                continue
            return path, source, str(exc)
        if info.st_size > safeio.LIMITS["ceph.conf"]:
            return path, source, "ceph.conf {}: {} bytes, over the limit of {}".format(
                safeio.one_line(path), info.st_size, safeio.human_size(safeio.LIMITS["ceph.conf"]))
        return path, source, None
    return None, None, None


def normalize_key(key):
    """ConfFile::normalize_key_name: trimmed, each run of white space one "_" (case and
    underscores kept: "RBD Default Format" and "rbd__default_format" are other options)."""
    return "_".join(key.split())


def _text(line):
    if isinstance(line, str):
        return line
    if isinstance(line, (bytes, bytearray)):
        return bytes(line).decode("utf-8", "replace")
    return str(line)


def parse_ceph_conf(lines, keep=None, verdict=None):
    """{section: {normalized key: value}} from ceph.conf lines, read as librados 16.2.15's
    ConfUtils grammar reads them: ``cephconf.parse_ceph_conf`` (the grammar is imported only
    when a file is read: a scan of a host without ceph.conf never compiles its expressions)."""
    from .cephconf import parse_ceph_conf as parse
    return parse(lines, keep=keep, verdict=verdict)


def section_order(client_id=None, client_name=None):
    """librados's lookup order for a client: [client.<id>], [client], [global]."""
    name = client_name or "client.{}".format(client_id or "admin")
    kind = name.split(".", 1)[0]
    return [name, kind, "global"]


def lookup(sections, key, order):
    for section in order:
        values = sections.get(section, {})
        if key in values:
            return values[key]
    return None


def _bounded_int(digits, base=10):
    """int() of a digit string, or None when it has more than 20 significant digits (never the
    interpreter's int-string limit, never quadratic time: 4,301 digits of garbage stay garbage)."""
    significant = digits.lstrip("0") or "0"
    limit = 20 if base == 10 else 16
    if len(significant) > limit:
        return None
    return int(significant, base)


def parse_features(value):
    """``"61"`` or ``"layering,exclusive-lock"`` -> (mask, unknown names); mask None if empty.

    The tolerant reading used for releases whose own parse was not verified (decimal with
    leading zeros, 0x hex, names through the knowledge layer); ``parse_option`` is librados
    16.2.15's own.  A number too long to be a 64-bit mask counts as an unknown name.
    """
    text = (value or "").strip()
    if not text:
        return None, ()
    groups = _mask_groups(text)
    if groups:
        number = _bounded_int(groups[0], 16) if groups[0] else _bounded_int(groups[1])
        if number is not None and number < 1 << 64:
            return number, ()
        return None, (_show(text),)
    mask = 0
    unknown = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        feature = kn.feature(part)
        if feature is None:
            unknown.append(_show(part))
        else:
            mask |= feature.mask
    return mask, tuple(unknown)


def _show(text):
    """A raw value as a message shows it: one line, at most _SHOW characters."""
    text = safeio.one_line(text)
    return text if len(text) <= _SHOW else "{}... ({} characters)".format(text[:_SHOW], len(text))


# ---------------------------------------------------------------------------------------
# librados's own parse (knowledge/data/config_parsing.json; verified releases only)

class Parsed(tuple):
    """(accepted, value, reason): ``value`` is what librados stores (int, or str for a pool),
    ``reason`` why it rejects (None when accepted)."""
    __slots__ = ()

    def __new__(cls, accepted, value=None, reason=None):
        return tuple.__new__(cls, (accepted, value, reason))

    accepted = property(lambda self: self[0])
    value = property(lambda self: self[1])
    reason = property(lambda self: self[2])


@memo
def _parsing():
    return kn.load("config_parsing.json")


def prepare():
    """Read what ``configuration`` reads from the knowledge base (cached), ahead of the
    evidence: the scan does it while the probe child works."""
    _parsing()
    verified_releases()


def verified_releases():
    """The releases whose parse a real librados confirmed (config_parsing.json)."""
    return tuple(sorted(_parsing()["oracle"]["verified"], key=kn.version_key))


def option_rule(option):
    """The parse rule of ``option`` ("features", "uint", "size", "pool") or None."""
    entry = _parsing()["options"].get(option)
    return entry["rule"] if entry else None


def kept_value(option, release="16.2.15"):
    """What librados keeps when it rejects a value of ``option`` (the default), as a string."""
    verified = _parsing()["oracle"]["verified"].get(release) or {}
    return (verified.get("derived") or {}).get("kept_on_reject", {}).get(option)


_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_C_SPACE = " \t\n\v\f\r"


def _strict_strtoll(text):
    """strict_strtoll(text, 10) of src/common/strtol.cc: strtoll (leading C white space, a sign,
    decimal digits) that must consume the whole text and not overflow. (value, error)."""
    body = text.lstrip(_C_SPACE)
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    digits = len(body) - len(body.lstrip("0123456789"))
    if digits == 0:
        return None, "expected an integer"
    if digits != len(body):
        return None, "expected an integer (garbage after the number)"
    number = _bounded_int(body)
    if number is None or sign * number > _INT64_MAX or sign * number < -_INT64_MAX - 1:
        return None, "out of range for a 64-bit integer"
    return sign * number, None


def _si_uint(text):
    """strict_si_cast<uint64_t> (TYPE_UINT): a decimal, optionally times 10^3..10^18 for a final
    K/M/G/T/P/E; a final B is not stripped (so "1B" is rejected)."""
    if not text:
        return Parsed(False, None, "no value")
    power = 0
    body = text
    if body.strip("0123456789+-"):
        unit = text[-1]
        powers = {"K": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
        if unit in powers:
            power = powers[unit]
            body = text[:-1]
        elif unit != "B":
            return Parsed(False, None, "unit prefix not recognized")
    number, error = _strict_strtoll(body)
    if error:
        return Parsed(False, None, error)
    if number < 0:
        return Parsed(False, None, "negative")
    if number > _UINT64_MAX // 10 ** power:
        return Parsed(False, None, "out of range")
    return Parsed(True, number * 10 ** power)


def _iec_uint(text):
    """strict_iecstrtoll (TYPE_SIZE): a decimal, then a unit of at most two characters whose
    first is K/M/G/T/P/E (2^10..2^60) or B; "Bi" and three-character units ("MiB") rejected."""
    if not text:
        return Parsed(False, None, "no value")
    shift = 0
    body = text
    stop = len(text) - len(text.lstrip("0123456789+-"))
    if stop < len(text):
        body, unit = text[:stop], text[stop:]
        if unit[-1] == "i" and unit[0] == "B":
            return Parsed(False, None, "illegal prefix \"Bi\"")
        if len(unit) > 2:
            return Parsed(False, None, "illegal prefix (longer than 2 characters)")
        shifts = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60, "B": 0}
        if unit[0] not in shifts:
            return Parsed(False, None, "unit prefix not recognized")
        shift = shifts[unit[0]]
    number, error = _strict_strtoll(body)
    if error:
        return Parsed(False, None, error)
    if number < 0:
        return Parsed(False, None, "negative")
    if number > _UINT64_MAX >> shift:
        return Parsed(False, None, "too large")
    return Parsed(True, number << shift)


def _features_value(text, release):
    """librbd::rbd_features_from_string (src/librbd/Features.cc) with the validator of
    rbd_default_features: trimmed; empty is the default mask; a number (boost::lexical_cast
    <uint64_t>: decimal, leading zeros, a sign; "-N" wraps) must have only bits the release
    accepts as a number; else comma-separated names, each trimmed and known, their bits
    added (so a repeated name adds twice)."""
    derived = (_parsing()["oracle"]["verified"][release].get("derived") or {})["features"]
    value = text.strip(_C_SPACE)
    if not value:
        return Parsed(True, derived["empty"])
    body = value[1:] if value[:1] in ("+", "-") else value
    if _all_digits(body):
        number = _bounded_int(body)
        if number is not None and number <= _UINT64_MAX:
            if value[0] == "-":
                number = (-number) & _UINT64_MAX
            bad = number & ~derived["numeric_bits"]
            if bad:
                return Parsed(False, None, "unknown or internal feature bits 0x{:x}".format(bad))
            return Parsed(True, number)
        # an overflowing number is not a number to lexical_cast: read as a name, an unknown one
        return Parsed(False, None, "a number too large for 64 bits (then read as a feature name: unknown)")
    mask = 0
    for name in value.split(","):
        name = name.strip(_C_SPACE)
        bit = derived["names"].get(name)
        if bit is None:
            return Parsed(False, None, "not a feature mask nor a list of feature names: unknown feature {!r}".format(
                _show(name)))
        mask += bit
    return Parsed(True, mask)


_MASK_TEXT = Pattern(r"^(?:0[xX]([0-9a-fA-F]+)|(\d+))$")
_ALL_DIGITS = Pattern(r"^[0-9]+$")
_HEX = frozenset("0123456789abcdefABCDEF")
_ASCII_DIGITS = frozenset("0123456789")


def _mask_groups(text):
    """The groups of ``_MASK_TEXT.match(text)`` (hex, decimal), or None; without re (a
    runtime scan's default 61 would otherwise import it: _lazy).  ``$`` also matches before a
    final newline.  tests/test_config.py compares the two."""
    body = text[:-1] if text.endswith("\n") else text
    if body[:2] in ("0x", "0X") and len(body) > 2 and _HEX.issuperset(body[2:]):
        return body[2:], None
    if body and body.isdecimal():
        return None, body
    return None


def _all_digits(text):
    """``_ALL_DIGITS.match(text)`` as a bool, without re."""
    body = text[:-1] if text.endswith("\n") else text
    return bool(body) and _ASCII_DIGITS.issuperset(body)
_ARG_SPLIT = Pattern(r"[;,=\s]+")
_META = Pattern(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand_meta(text, variables):
    """``$name`` / ``${name}`` replaced as md_config_t expands them for string options: the
    metavariables (cluster, type, name, id) and other options' values given in ``variables``;
    an unknown name stays as written.  One pass, bounded by the text (no recursion)."""
    if "$" not in text:
        return text

    # _META.sub, written without re (tests/test_config.py compares the two)
    out = []
    pos = 0
    while True:
        dollar = text.find("$", pos)
        if dollar < 0:
            out.append(text[pos:])
            return "".join(out)
        out.append(text[pos:dollar])
        start = dollar + 1
        if text[start:start + 1] == "{":
            end = _name_end(text, start + 1)
            if end > start + 1 and text[end:end + 1] == "}":
                value = variables.get(text[start + 1:end])
                out.append(text[dollar:end + 1] if value is None else value)
                pos = end + 1
                continue
        end = _name_end(text, start)
        if end > start:
            value = variables.get(text[start:end])
            out.append(text[dollar:end] if value is None else value)
            pos = end
        else:
            out.append("$")
            pos = start


_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_REST = _NAME_START | frozenset("0123456789")


def _name_end(text, pos):
    """End of the metavariable name [A-Za-z_][A-Za-z0-9_]* at ``pos`` (``pos`` when none)."""
    if text[pos:pos + 1] not in _NAME_START or pos >= len(text):
        return pos
    end = pos + 1
    while end < len(text) and text[end] in _NAME_REST:
        end += 1
    return end


def parse_option(option, text, release="16.2.15", variables=None):
    """How librados ``release`` takes ``text`` for ``option`` (a value as ConfUtils hands it:
    trimmed, unquoted).  ``variables``: metavariables for string options (``expand_meta``).
    None when the option or the release has no verified rule.  Never raises."""
    rule = option_rule(option)
    if rule is None or release not in _parsing()["oracle"]["verified"]:
        return None
    text = _text(text)
    if rule == "pool" and variables:
        text = expand_meta(text, variables)
    if rule == "features":
        return _features_value(text, release)
    if rule == "uint":
        return _si_uint(text)
    if rule == "size":
        return _iec_uint(text)
    # pool: the validator resets a name with @ or / to "" and accepts (returns 0)
    return Parsed(True, "" if ("@" in text or "/" in text) else text)


def _fact(facts, key):
    """(value, source) of one release fact: a knowledge.Fact or a (value, source) pair."""
    fact = (facts or {}).get(key)
    if fact is None:
        return None, "release not identified"
    if hasattr(fact, "unverified"):
        return fact.value, fact.source if fact.unverified is None else fact.unverified
    return fact[0], fact[1]


def library_known_mask(features_check):
    """The feature bits the loaded library names itself (rbd_features_to_string answers).

    ``features_check`` maps str(mask) -> {"rc", "names"} for single-bit masks; a bit is known
    unless the library answered -EINVAL.  None when the library was not asked.
    """
    if not features_check:
        return None
    mask = 0
    for feature in kn.features():
        answer = features_check.get(str(feature.mask))
        if answer and answer.get("rc") != -errno.EINVAL:
            mask |= feature.mask
    return mask


def _names(mask):
    return list(kn.feature_names(mask))


def _first_release_for(names):
    """Label of the newest first release among features ``names`` ("15.2.0 (octopus)")."""
    firsts = [f.first_release for f in kn.features() if f.name in names and f.first_release]
    if not firsts:
        return None
    return kn.release_label(max(firsts, key=kn.version_key))


_FIXES = {
    "features": "write a decimal mask (61 is layering, exclusive-lock, object-map, fast-diff, deep-flatten) or "
                "comma-separated feature names as `rbd help create` lists them",
    "uint": "write a plain decimal number (a final K, M, G, T, P or E multiplies by a power of ten)",
    "size": "write a number of bytes, optionally followed by K, M, G, T, P or E (or Ki, Mi, ...: powers of two)",
    "pool": "write a pool name without @ or /",
}


def _judge(option, raw, facts, checks):
    """(Parsed or None, how, release): how librados takes ``raw`` for ``option``.

    how: "library" (the loaded librados answered rados_conf_set in the child), "verified" (the
    identified release's parse was verified), "assumed" (release not identified: the verified
    release's rule), None (an identified release whose parse nobody verified: no claim)."""
    check = (checks or {}).get(option)
    if hasattr(check, "get") and isinstance(check.get("rc"), int):      # a dict or a frozen mapping
        stored = check.get("stored")
        accepted = check["rc"] == 0
        value = None
        if accepted and isinstance(stored, str):
            value = stored if option_rule(option) == "pool" else _bounded_int(stored) if stored.isdigit() else None
        reason = None
        if not accepted:
            reason = "rados_conf_set returned {}".format("-EINVAL" if check["rc"] == -errno.EINVAL else check["rc"])
            ours = parse_option(option, raw, verified_releases()[-1]) if verified_releases() else None
            if ours is not None and not ours.accepted:
                reason += ": {}".format(ours.reason)
        return Parsed(accepted, value, reason), "library", stored if not accepted else None
    versions = tuple(getattr(facts, "versions", None) or ())
    verified = verified_releases()
    if versions and all(v in verified for v in versions):
        release, how = versions[0], "verified"
    elif not versions and verified:
        release, how = verified[-1], "assumed"
    else:
        return None, None, None
    parsed = parse_option(option, raw, release)
    if how == "assumed" and option_rule(option) == "features" and parsed is not None and not parsed.accepted:
        # which bits and names a release takes differs by release: with the release unknown,
        # only a value no release reads as a mask or as names is claimed to be rejected
        mask, bad = parse_features(raw)
        if mask is not None and not bad:
            return None, None, None
    return parsed, how, release


def _rejected_problem(option, raw, parsed, how, release):
    name = option.replace("_", " ")
    if how == "library":
        who, kept, severity = "the loaded librados", release, "error"
    elif how == "verified":
        who, kept, severity = "librados {}".format(release), kept_value(option, release), "error"
    else:
        who, kept, severity = ("librados {} (the release this parse was verified on; this library's release "
                               "was not identified)".format(release)), kept_value(option, release), "warning"
    message = "{} = {}: {} rejects it ({}){}".format(
        name, _show(raw), who, parsed.reason,
        "; the client keeps {} ({})".format(name, kept) if kept is not None else "")
    evidence = (_parsing()["options"][option]["source"],)
    if how != "library":
        evidence += ("checked against the real librados {}: tools/config_oracle.py, "
                     "knowledge/data/config_parsing.json".format(release),)
    return Problem("config.rejected-value", severity, message, _FIXES.get(option_rule(option)), evidence)


def analyse(values, facts, library_known_mask=None, checks=None, raw=None):
    """What the configuration asks for, and whether this library can honour it (pure).

    ``values`` are option strings as librados returned them (or as parsed here); ``facts``
    are the identified release's (``Identification.facts``, whose ``versions`` select the
    per-release effects).  ``raw``: the values as written in the file (default ``values``),
    judged as librados parses them; ``checks``: the loaded library's own answers
    (rados_conf_set per raw value, from the child).  Returns (summary dict, tuple of Problem).
    Never raises.
    """
    values = values or {}
    raw = values if raw is None else raw
    summary = {}
    problems = []
    judged = {}
    for option in KEYS:
        if raw.get(option) is None:
            continue
        parsed, how, release = _judge(option, _text(raw[option]), facts, checks)
        judged[option] = (parsed, how)
        if parsed is not None and not parsed.accepted:
            problems.append(_rejected_problem(option, _text(raw[option]), parsed, how, release))
    static = raw is values
    all_mask, all_source = _fact(facts, "rbd_features_all")
    if library_known_mask is not None:
        all_mask, all_source = library_known_mask, "the library's own rbd_features_to_string answers"
    text = values.get("rbd_default_features")
    if text is not None:
        text = _text(text)
        parsed, how = judged.get("rbd_default_features", (None, None)) if static else (None, None)
        if parsed is not None:
            mask, bad_names = (parsed.value, ()) if parsed.accepted else (None, ())
        else:
            mask, bad_names = parse_features(text)
        entry = {"raw": _show(text) if len(text) > _SHOW else text, "value": mask,
                 "names": _names(mask) if mask is not None else [], "unparsed_names": list(bad_names)}
        if parsed is not None:
            entry["accepted"] = parsed.accepted
        summary["rbd_default_features"] = entry
        if bad_names:
            problems.append(Problem(
                "config.feature-names", "error",
                "rbd default features = {} names features this tool does not know: {}".format(
                    _show(text), ", ".join(bad_names)),
                "use the numeric mask or the names from `rbd help create`"))
        if mask is not None and all_mask is not None:
            unknown = mask & ~all_mask
            entry["unknown_to_library"] = _names(unknown)
            if unknown:
                names = _names(unknown)
                known_part = mask & all_mask
                upgrade = _first_release_for(names)
                problems.append(Problem(
                    "config.unknown-features", "error",
                    "rbd default features = {} asks for {} (0x{:x}), which this librbd does not know: every "
                    "create without explicit features fails with -ENOSYS (\"librbd does not support requested "
                    "features\"), which the Python binding raises as `FunctionNotSupported: error creating "
                    "image`".format(_show(text), ", ".join(names), unknown),
                    "upgrade the client (librbd1/librados2) to {} or later, or set `rbd default features = {}` "
                    "({}) in the client's ceph.conf".format(
                        upgrade or "a release that knows them", known_part,
                        ", ".join(_names(known_part)) or "no features"),
                    ("known mask 0x{:x} from {}".format(all_mask, all_source),)))
        elif mask is not None:
            entry["unknown_to_library"] = None
        if mask is not None:
            problems.extend(_dependency_problems(_show(text), mask, tuple(getattr(facts, "versions", None) or ())))
    fmt_raw = values.get("rbd_default_format")
    if fmt_raw is not None:
        fmt_raw = _text(fmt_raw)
        parsed, how = judged.get("rbd_default_format", (None, None)) if static else (None, None)
        if parsed is not None:
            fmt = parsed.value if parsed.accepted else None
        else:
            stripped = fmt_raw.strip()
            fmt = _bounded_int(stripped) if _all_digits(stripped) else None
        summary["rbd_default_format"] = {"raw": _show(fmt_raw) if len(fmt_raw) > _SHOW else fmt_raw, "value": fmt}
        policy, policy_source = _fact(facts, "format1_create")
        if fmt == 1 and policy and policy.startswith("refused"):
            problems.append(Problem(
                "config.format1-refused", "error",
                "rbd default format = 1, but this librbd refuses to create format 1 images: creates fail with "
                "-EINVAL (\"Format 1 image creation unsupported\"), raised by the Python binding as "
                "`InvalidArgument: error creating image`",
                "set `rbd default format = 2` (format 1 is deprecated), or export RBD_FORCE_ALLOW_V1=1 in the "
                "client's environment as a stopgap", (policy_source,)))
    return summary, tuple(problems)


def _alone_effect(feature, versions):
    """The one verified effect of asking ``feature`` without what it requires, on every
    version in ``versions`` (knowledge: features.json "effects", situation "alone"); None
    when it is not known for them all or differs between them."""
    found = set()
    for version in versions:
        effect = kn.feature_effect(feature.name, "alone", version)
        if effect is None or not effect.verified:
            return None
        found.add(effect)
    if len({e.effect for e in found}) != 1:
        return None
    return sorted(found, key=lambda e: kn.version_key(e.min))[0]


def _ranges(feature):
    """The verified "alone" effects by effect: "EINVAL in 11.2.0, 12.2.0..12.2.9; dropped in 16.2.15"."""
    by_effect = {}
    for e in sorted(feature.effects, key=lambda e: kn.version_key(e.min)):
        if e.situation == "alone" and e.verified:
            span = e.min if e.min == e.max else "{}..{}".format(e.min, e.max)
            by_effect.setdefault(e.effect, []).append(span)
    return "; ".join("{} in {}".format(effect, ", ".join(spans)) for effect, spans in by_effect.items())


def _dependency_problems(raw, mask, versions):
    """A feature asked without one it requires: what the identified release does then
    (refused with -EINVAL, silently dropped, removed again), from the per-release effects."""
    problems = []
    present = set(_names(mask))
    for name in _names(mask):
        feature = kn.feature(name)
        if feature is None:
            continue
        for needed in feature.requires:
            if needed in present:
                continue
            effect = _alone_effect(feature, versions)
            fix = "add {} to rbd default features or drop {}".format(needed, name)
            if effect is None:
                problems.append(Problem(
                    "config.feature-dependency-unverified", "warning",
                    "rbd default features = {} has {} without {}: what this librbd ({}) does then is not "
                    "established (recorded: {})".format(raw, name, needed, ", ".join(versions) or "release not identified",
                                                  _ranges(feature) or "nothing"), fix))
                continue
            span = effect.min if effect.min == effect.max else "{}..{}".format(effect.min, effect.max)
            evidence = ("{} in {}: {}".format(effect.effect, span, effect.source),)
            if effect.effect == "dropped":
                problems.append(Problem(
                    "config.feature-dropped", "warning",
                    "rbd default features = {} has {} without {}: new images silently get no {}".format(
                        raw, name, needed, name), fix, evidence))
            elif effect.effect == "EINVAL":
                problems.append(Problem(
                    "config.feature-dependency", "error",
                    "rbd default features = {} has {} without {}: creates fail with -EINVAL "
                    "(\"cannot use {} without {}\")".format(
                        raw, name, needed, name.replace("-", " "), needed.replace("-", " ")), fix, evidence))
            else:
                problems.append(Problem(
                    "config.feature-dependency", "error",
                    "rbd default features = {} has {} without {}: {}".format(
                        raw, name, needed, effect.summary or effect.effect), fix, evidence))
    return problems


# ---------------------------------------------------------------------------------------
# keyrings and secrets

def parse_keyring(lines):
    """((entity, key), ...) of a plain-text keyring (ini: ``[client.admin]`` then ``key = AQ...``,
    src/auth/KeyRing.cc decode_plaintext) or of a keyfile (the bare key).  Never raises."""
    out = []
    entity = ""
    for raw in lines or ():
        line = _text(raw).strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            entity = (line[1:line.find("]")] if "]" in line else line[1:]).strip()
            continue
        if len(line) <= 200 and " " not in line and safeio.is_cephx_key(line):
            out.append((entity, line))              # a bare key (a keyfile); its padding has "="
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            if normalize_key(key) == "key":
                value = value.strip().strip('"').strip()
                if value:
                    out.append((entity, value))
    return tuple(out)


def _split_paths(text):
    # KeyRing::from_ceph_context: get_str_list(conf->keyring) splits on ";,= \t"
    # the non-empty pieces of _ARG_SPLIT.split(text); \s is str.isspace's set, as str.split()'s
    return text.replace(";", " ").replace(",", " ").replace("=", " ").split() if text else []


def cluster_of(conf_path):
    """The cluster name librados derives from the conf file's name ("ceph" for ceph.conf)."""
    base = os.path.basename(conf_path or "")
    return base[:-len(".conf")] if base.endswith(".conf") and len(base) > 5 else "ceph"


def ceph_args_secrets(environ):
    """(secrets, keyring paths, keyfile paths) CEPH_ARGS names (--key, --keyring / -k, --keyfile;
    any token shaped like a cephx key)."""
    tokens = (environ or {}).get("CEPH_ARGS", "").split()
    secrets, keyrings, keyfiles = set(), [], []
    wanted = {"--key": secrets, "--keyring": keyrings, "-k": keyrings, "--keyfile": keyfiles}
    for index, token in enumerate(tokens):
        name, eq, value = token.partition("=")
        name = name.replace("_", "-")
        if name in wanted:
            if not eq:
                value = tokens[index + 1] if index + 1 < len(tokens) else ""
            target = wanted[name]
            if isinstance(target, set):
                target.add(value)
            else:
                target.extend(_split_paths(value))
        if safeio.is_cephx_key(value or token):
            secrets.add(value or token)
    return secrets, keyrings, keyfiles


def _read_secret_file(path, kind, problems):
    """The keys of keyring/keyfile ``path`` (a set); a hostile file (FIFO, device, over
    LIMITS["keyring"]) is a problem and is not read; a missing or unreadable one is skipped as
    librados skips it."""
    try:
        os.stat(path)
    except (OSError, ValueError):
        return set()
    try:
        safeio.check_regular(path, kind)
        keys = set(k for _entity, k in parse_keyring(safeio.iter_lines(path, kind, safeio.LIMITS["keyring"])))
    except InputError as exc:
        text = str(exc)
        if "permission denied" in text or "no such file" in text:
            return set()
        problems.append(Problem(
            "config.keyring-refused", "warning",
            "{}: not read, so its keys are redacted from the output only by their shape".format(text),
            "make {} a regular file of at most {}".format(safeio.one_line(path), safeio.human_size(safeio.LIMITS["keyring"]))))
        return set()
    if kind == "keyfile" and not keys:
        try:
            whole = safeio.read_text(path, kind, safeio.LIMITS["keyring"]).strip()
        except InputError:
            whole = ""
        keys = set(t for t in [whole] + whole.split() if t)
    return keys


# What librados 16.2.15 opens of the keyring and keyfile options, and blocks on when that is a
# FIFO (live trials; tests/test_hostile_config.py asks the installed library again): with the
# file setting ``keyring`` for the client (in [global], [client] or its own section, not
# another client's), rados_conf_read_file opens the keyring's paths and the keyfile, and blocks
# on a FIFO among them; with only ``keyfile`` set, rados_connect opens it and blocks.
# librados's default keyring list and /dev/zero as a keyring do not block.  The tool does not
# hand such a file to the probe child, whichever of the two it is, and live mode does not
# connect.

def file_fifos(parsed, order, conf_path=None, client_name=None, root=None):
    """{"keyring": [...], "keyfile": [...]}: the FIFOs among the paths the ceph.conf ``parsed``
    sets as the client's keyring and keyfile (metavariables expanded, as librados expands them):
    librados blocks on them reading the file or connecting (above)."""
    out = {"keyring": [], "keyfile": []}
    if not parsed:
        return out
    variables = _meta_variables(conf_path, client_name or order[0])
    fs = Root.of(root)
    for key in out:
        text = lookup(parsed, key, order)
        for path in _split_paths(expand_meta(text, variables)) if text else ():
            host = fs.host(path)
            try:
                if stat.S_ISFIFO(os.stat(host).st_mode) and host not in out[key]:
                    out[key].append(host)
            except (OSError, ValueError):
                pass
    return out


def _fifo_problem(fifos):
    paths = fifos["keyring"] + fifos["keyfile"]
    return Problem("config.keyring-fifo", "error",
                   "{} {}{} is a FIFO (named pipe): librados 16.2.15 blocks on it reading this ceph.conf or "
                   "connecting, so the file is not handed to librados and live mode does not connect".format(
                       "keyring" if fifos["keyring"] else "keyfile", safeio.one_line(paths[0]),
                       " (and {} more)".format(len(paths) - 1) if len(paths) > 1 else ""),
                   "make {} a regular file (or name another keyring)".format(safeio.one_line(paths[0])))


def _meta_variables(conf_path, name):
    """The metavariables librados expands in a path option, for client ``name``."""
    return {"cluster": cluster_of(conf_path), "name": name, "type": name.split(".", 1)[0],
            "id": name.split(".", 1)[-1]}


def collect_secrets(parsed, order, conf_path=None, environ=None, client_name=None, runtime_config=None,
                    keyring=None, root=None):
    """(secrets, sources, problems): every key the configuration names and every key of every
    keyring and keyfile it names (the client's keyring/keyfile options or librados's default
    keyring list, CEPH_ARGS, ``keyring``, the paths librados itself expanded in the child),
    registered with safeio.add_secrets so no output of this process shows them."""
    secrets = set()
    problems = []
    for values in (parsed or {}).values():
        if values.get("key"):
            secrets.add(values["key"])
        for value in values.values():
            if safeio.is_cephx_key(value):
                secrets.add(value)
    variables = _meta_variables(conf_path, client_name or order[0])
    keyring_text = lookup(parsed or {}, "keyring", order)
    if keyring_text is None:
        keyring_text = _parsing()["keyring_default"]["value"]
    # the configuration's paths are the target's: under --root, inside it
    fs = Root.of(root)
    keyrings = [fs.host(p) for p in _split_paths(expand_meta(keyring_text, variables))]
    keyfiles = [fs.host(p) for p in _split_paths(expand_meta(lookup(parsed or {}, "keyfile", order) or "", variables))]
    env_secrets, env_keyrings, env_keyfiles = ceph_args_secrets(environ)
    secrets |= env_secrets
    keyrings += env_keyrings
    keyfiles += env_keyfiles
    if keyring:
        keyrings.append(keyring)
    runtime_config = runtime_config or {}
    keyrings += _split_paths(runtime_config.get("keyring") if isinstance(runtime_config.get("keyring"), str) else "")
    keyfiles += _split_paths(runtime_config.get("keyfile") if isinstance(runtime_config.get("keyfile"), str) else "")
    sources = []
    for kind, paths in (("keyring", keyrings), ("keyfile", keyfiles)):
        for path in paths:
            if path in sources:
                continue
            found = _read_secret_file(path, kind, problems)
            if found:
                sources.append(path)
                secrets |= found
    secrets = set(s for s in secrets if isinstance(s, str) and len(s) >= 8)
    safeio.add_secrets(secrets)
    return secrets, sources, problems


def _redact_problem(problem, secrets):
    return problem._replace(message=safeio.redact(problem.message, secrets),
                            fix=safeio.redact(problem.fix, secrets) if problem.fix else problem.fix,
                            evidence=tuple(safeio.redact(e, secrets) for e in problem.evidence))


# ---------------------------------------------------------------------------------------
# reading the file

#: The keys read from a ceph.conf: what is reported, and what names or holds secrets.
READ_KEYS = frozenset(KEYS + SECRET_KEYS)


def _byte_lines(path, what, max_line=64 << 10):
    """Lines of a regular file as bytes (librados checks UTF-8 on the bytes), each at most
    ``max_line`` (the rest of a longer line is dropped): memory stays at one line."""
    return safeio.iter_byte_lines(path, what, None, max_line, overlong=b"")


def read_conf(path, verdict=None):
    """{section: {key: value}} of READ_KEYS in ceph.conf ``path``, streamed through safeio
    (memory: one line; regular files only; at most LIMITS["ceph.conf"]); ``verdict`` as for
    ``parse_ceph_conf``; the null device is an empty file, as librados reads it.  Raises InputError."""
    lines = () if safeio.is_null_device(path) else _byte_lines(path, "ceph.conf")
    return parse_ceph_conf(lines, keep=READ_KEYS, verdict=verdict)


def read_file_values(path, order, opener=None):
    """{key: value} of KEYS from ceph.conf ``path`` for the client sections ``order``.

    Raises InputError when the file cannot be read.
    """
    parsed = read_conf(path)
    return {key: lookup(parsed, key, order) for key in KEYS if lookup(parsed, key, order) is not None}


def raw_values(parsed, order):
    """{key: value as written} of KEYS for the client's sections."""
    return {key: lookup(parsed, key, order) for key in KEYS if lookup(parsed, key, order) is not None}


_KINDS = (("FIFO", "FIFO"), ("character device", "character device"), ("directory", "directory"),
          ("socket", "socket"), ("over the limit", "17 MiB regular file"))


def _client_on(refusal):
    """What a client's librados does with such a file, as the verified release was seen doing
    it (config_parsing.json file_kinds: rados_conf_read_file on a FIFO, a device, ...)."""
    for release in reversed(verified_releases()):
        kinds = _parsing()["oracle"]["verified"][release].get("file_kinds") or {}
        for words, kind in _KINDS:
            if words in refusal and kind in kinds:
                answer = kinds[kind]
                if answer == "blocks":
                    return ("librados {} blocks in rados_conf_read_file on it: a client on this host hangs at "
                            "start-up".format(release))
                if kind.endswith("regular file"):
                    return "librados {} reads such a file whole (rados_conf_read_file returns {})".format(release, answer)
                sources = _parsing()["oracle"]["verified"][release].get("conf_sources") or {}
                if answer == 0 and (sources.get("CEPH_CONF") or {}).get(kind + ", then a regular file") == 0:
                    # /dev/zero: st_size 0, read as an empty file; the search stops there
                    return ("librados {} reads it as an empty file and looks no further (rados_conf_read_file "
                            "returns 0): a client on this host runs on the defaults".format(release))
                return "librados {} skips it (rados_conf_read_file returns {})".format(
                    release, "0" if answer == 0 else "-ENOENT" if answer == -errno.ENOENT else answer)
    return "what a client's librados does with it is not verified"


def ceph_args_conf(environ):
    """The ceph.conf path CEPH_ARGS names with -c / --conf (the last one, as parsed last wins), or None."""
    tokens = (environ or {}).get("CEPH_ARGS", "").split()
    path = None
    for index, token in enumerate(tokens):
        name, eq, value = token.partition("=")
        if name in ("-c", "--conf"):
            path = value if eq else (tokens[index + 1] if index + 1 < len(tokens) else None)
    return path or None


def _path_kind(path):
    """The conf_sources kind of ``path``: "null device", "regular file", "FIFO", "missing file", ..."""
    if safeio.is_null_device(path):
        return "null device", None
    try:
        safeio.check_regular(path, "")
    except InputError as exc:
        text = str(exc)
        for kind in ("FIFO", "character device", "no such file"):
            if kind in text:
                return ("missing file" if kind == "no such file" else kind), text
        return None, text
    return "regular file", None


_COMMANDS_DO = {"read": "read that file instead", 0: "read it as an empty configuration",
                "blocks": "block in open() on it at start-up (a FIFO waits for a writer)",
                -errno.ENOENT: "stop at start-up: global_init cannot open it"}


def _ceph_args_conf_problem(environ, conf_path):
    """config.ceph-args-conf: CEPH_ARGS -c names a file the ceph/rbd/rados commands read, and
    that librados clients ignore (config_parsing.json conf_sources, both asked of the real
    16.2.15: its ceph-conf and rados_conf_read_file)."""
    path = ceph_args_conf(environ)
    if not path:
        return None
    kind, why = _path_kind(path)
    for release in reversed(verified_releases()):
        sources = _parsing()["oracle"]["verified"][release].get("conf_sources") or {}
        commands = (sources.get("ceph-conf, CEPH_ARGS -c") or {}).get(kind)
        ignored = (sources.get("CEPH_ARGS -c") or {}).get(kind) == -errno.ENOENT
        if commands in _COMMANDS_DO and ignored:
            break
    else:
        return None
    return Problem(
        "config.ceph-args-conf", "info" if commands in ("read", 0) else "warning",
        "CEPH_ARGS names the ceph.conf {}{} (-c/--conf): the ceph, rbd and rados commands (global_init) {}; "
        "librados clients (QEMU, the Python and Go bindings: rados_conf_read_file) ignore it and read {}, as this "
        "report does (librados and ceph-conf {} asked)".format(
            safeio.one_line(path), " ({})".format(why.split(": ", 1)[-1]) if why else "", _COMMANDS_DO[commands],
            safeio.one_line(conf_path) if conf_path else "none (librados's defaults)", release),
        None if commands in ("read", 0) else "fix or remove the -c in CEPH_ARGS")


def _file_how(facts):
    """"verified" (the identified release's file grammar was checked), "assumed" (release not
    identified: the verified release's), or None (an unverified release: no claim)."""
    versions = tuple(getattr(facts, "versions", None) or ())
    verified = verified_releases()
    if versions and all(v in verified for v in versions):
        return "verified", versions[0]
    if not versions and verified:
        return "assumed", verified[-1]
    return None, None


def _file_problem(conf_path, verdict, facts, runtime_config):
    """(Problem or None, ignored): what librados does with the whole file -- rejects it
    (nothing applies: ``ignored``) or aborts on it -- from the loaded library's own
    rados_conf_read_file when it read the file, else from the grammar of the verified release."""
    where = "{} line {}".format(safeio.one_line(conf_path or "ceph.conf"), verdict.get("line"))
    ours = "{}: {}".format(where, verdict.get("reason")) if verdict.get("status") in ("rejected", "aborts") else None
    fix = "fix {} (or quote the value; non-ASCII text only inside quotes or comments)".format(where) if ours else None
    if runtime_config is not None and not runtime_config.get("read_skipped"):
        if runtime_config.get("read_rc") == -errno.EINVAL:
            return Problem(
                "config.file-rejected", "error",
                "the loaded librados rejects {} as a whole (rados_conf_read_file returned -EINVAL{}): a client on "
                "this host applies none of its settings and runs on defaults".format(
                    safeio.one_line(conf_path), ": " + ours if ours else ""),
                fix or "check the file's syntax: every line a [section], key = value, a comment or empty"), True
        return None, False
    how, release = _file_how(facts)
    if how is None or verdict.get("status") not in ("rejected", "aborts"):
        return None, False
    severity = "error" if how == "verified" else "warning"
    who = "librados {}".format(release) + ("" if how == "verified" else
                                          " (the release this grammar was verified on; this library's release was "
                                          "not identified)")
    evidence = ("src/common/ConfUtils.cc IniGrammer (denise813/storage-public-ceph release commit 15.2.7 88e41c6c); "
                "checked against the real librados {}: tools/config_oracle.py file_rows".format(release),)
    if verdict["status"] == "aborts":
        return Problem(
            "config.file-aborts-librados", severity,
            "{}: {} aborts reading this file (boost::spirit assertion strict_ischar, SIGABRT): every client on this "
            "host that reads it dies at start-up{}".format(
                ours, who, "; the probe child was not given it" if runtime_config is not None else ""),
            fix, evidence), True
    return Problem(
        "config.file-rejected", severity,
        "{}: {} rejects the whole file (rados_conf_read_file returns -EINVAL): a client on this host applies none "
        "of its settings and runs on defaults".format(ours, who), fix, evidence), True


def configuration(runtime_config, conf_path, conf_source, candidates, client_id=None, client_name=None,
                  facts=None, features_check=None, parsed=None, refusal=None, environ=None, keyring=None,
                  root=None, verdict=None, fifos=None):
    """The report's config section and its problems (secrets redacted, and registered).

    ``runtime_config`` is what the probe child read through librados (its "config" answer)
    or None; without it the file is parsed here and the section says so.  ``parsed``: the
    file as ``read_conf`` read it (read here when None); ``refusal``: why the file a client
    would read was not read (``choose_conf``); ``environ``: for CEPH_ARGS; ``keyring``: a
    keyring the user named; ``root``: the target's root (a rootfs.Root or directory) that
    the configuration's keyring paths are inside; ``verdict``: ``parse_ceph_conf``'s verdict
    on the file (read here when None); ``fifos``: ``file_fifos`` of the file (looked at here
    when None).
    """
    order = section_order(client_id, client_name)
    section = {"file": conf_path, "found_via": conf_source, "searched": [p for p, _ in candidates],
               "client": order[0], "read_by": None, "values": {}}
    problems = []
    error = None
    if refusal:
        problems.append(Problem(
            "config.file-refused", "error",
            "{}: not read by this tool nor handed to librados (the values shown are librados's defaults); "
            "{}".format(refusal, _client_on(refusal)),
            "replace it with a regular ceph.conf of at most {}, or name another with --conf".format(
                safeio.human_size(safeio.LIMITS["ceph.conf"]))))
    elif parsed is None and conf_path:
        verdict = {}
        try:
            parsed = read_conf(conf_path, verdict)
        except InputError as exc:
            error = str(exc)
    args_problem = _ceph_args_conf_problem(environ, conf_path) if environ is not None else None
    if args_problem is not None:
        problems.append(args_problem)
    parsed = parsed or {}
    verdict = verdict or {}
    runtime_read = runtime_config and runtime_config.get("create_rc") == 0
    file_problem, ignored = _file_problem(conf_path, verdict, facts, runtime_config if runtime_read else None)
    if file_problem is not None:
        problems.append(file_problem)
    secrets, sources, secret_problems = collect_secrets(parsed, order, conf_path, environ, client_name,
                                                        runtime_config, keyring, root)
    problems.extend(secret_problems)
    raw = {} if ignored else raw_values(parsed, order)
    checks = None
    if runtime_config and runtime_config.get("create_rc") == 0:
        section["read_by"] = "librados (rados_create + rados_conf_read_file + rados_conf_get, no connection)"
        if runtime_config.get("read_skipped"):
            section["read_by"] = "librados defaults (rados_create + rados_conf_get; no file handed to it)"
        values = dict(runtime_config.get("values") or {})
        checks = runtime_config.get("checks")
        if runtime_config.get("read_rc") not in (0, None):
            section["read_rc"] = runtime_config.get("read_rc")
    elif conf_path and not refusal:
        section["read_by"] = "librbd_probe's ceph.conf parser (the library was not loaded)"
        values = dict(raw)
        if ignored:
            section["read_by"] += "; librados applies nothing of this file: the values are its defaults"
    else:
        section["read_by"] = "nothing: no ceph.conf found and the library was not loaded" if not refusal else \
            "nothing: the ceph.conf was refused and the library was not loaded"
        values = {}
    if error:
        section["error"] = error
    section["values"] = {k: v for k, v in sorted(values.items()) if isinstance(v, str) and v != ""}
    if sources:
        section["keyrings_read"] = sources
    if fifos is None:
        fifos = file_fifos(parsed, order, conf_path, client_name, root)
    if fifos["keyring"] or fifos["keyfile"]:
        section["keyring_fifos"] = fifos["keyring"] + fifos["keyfile"]
        problems.append(_fifo_problem(fifos))
    static = not (runtime_config and runtime_config.get("create_rc") == 0)
    summary, analysed = analyse(section["values"] if static else values, facts, library_known_mask(features_check),
                                checks=checks, raw=None if static else raw)
    section.update(summary)
    problems.extend(analysed)
    return safeio.redact_tree(section, secrets), tuple(_redact_problem(p, secrets) for p in problems)
