"""The client configuration: which ceph.conf a client on this host reads, and what it asks for.

Values are read in the child by librados itself (rados_create + rados_conf_read_file +
rados_conf_get, never rados_connect).  When nothing can be loaded (static mode, foreign
architecture) ``parse_ceph_conf`` reads the file the way src/common/ConfUtils.cc does, and the
report says so.  Secrets (key, keyring contents) are never read nor printed.
"""
import errno
import os
import re

from . import knowledge as kn
from .model import Problem
from .rootfs import Root

#: Options this tool reads; never add "key", "keyfile" or "keyring".
KEYS = ("rbd_default_features", "rbd_default_format", "rbd_default_stripe_unit",
        "rbd_default_stripe_count", "rbd_default_data_pool")


def search_path(explicit=None, environ=None, root=None, cwd=None, cluster="ceph"):
    """Candidate files in librados's order (src/common/config.cc, CEPH_CONF_FILE_DEFAULT).

    ``--conf`` wins; else $CEPH_CONF; else /etc/ceph/<cluster>.conf, ~/.ceph/<cluster>.conf,
    ./<cluster>.conf.  Under a root (a ``rootfs.Root`` or a directory name) only the system
    file is meaningful: the host's environment, home and current directory are not the
    target's.  Paths returned are host paths.
    """
    environ = os.environ if environ is None else environ
    if explicit:
        return [(explicit, "--conf")]
    root = Root.of(root)
    if not root.is_host:
        return [(root.host("/etc/ceph/{}.conf".format(cluster)), "root /etc/ceph")]
    out = []
    if environ.get("CEPH_CONF"):
        out.append((environ["CEPH_CONF"], "CEPH_CONF"))
    out.append(("/etc/ceph/{}.conf".format(cluster), "/etc/ceph"))
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


def normalize_key(key):
    # ConfUtils treats spaces, underscores and runs of them alike: "rbd default features".
    return re.sub(r"[\s_]+", "_", key.strip().lower())


def parse_ceph_conf(lines):
    """{section: {normalized key: value}} from ceph.conf lines (ini with ; and # comments)."""
    sections = {}
    current = sections.setdefault("global", {})
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            name = line[1:line.find("]")] if "]" in line else line[1:]
            current = sections.setdefault(name.strip(), {})
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = re.split(r"\s[#;]", value, maxsplit=1)[0].strip().strip('"')
        current[normalize_key(key)] = value
    return sections


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


def parse_features(value):
    """``"61"`` or ``"layering,exclusive-lock"`` -> (mask, unknown names); mask None if empty.

    librbd accepts a number or comma-separated names (src/common/options: rbd_default_features,
    librbd::util::get_rbd_default_features); names are looked up in the knowledge layer.
    """
    text = (value or "").strip()
    if re.match(r"^(0x[0-9a-fA-F]+|\d+)$", text):
        return int(text, 0), ()
    if not text:
        return None, ()
    mask = 0
    unknown = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        feature = kn.feature(part)
        if feature is None:
            unknown.append(part)
        else:
            mask |= feature.mask
    return mask, tuple(unknown)


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


def analyse(values, facts, library_known_mask=None):
    """What the configuration asks for, and whether this library can honour it (pure).

    ``values`` are option strings as librados returned them (or as parsed here); ``facts``
    are the identified release's (``Identification.facts``, whose ``versions`` select the
    per-release effects).  Returns (summary dict, tuple of Problem).
    """
    summary = {}
    problems = []
    all_mask, all_source = _fact(facts, "rbd_features_all")
    if library_known_mask is not None:
        all_mask, all_source = library_known_mask, "the library's own rbd_features_to_string answers"
    raw = values.get("rbd_default_features")
    if raw is not None:
        mask, bad_names = parse_features(raw)
        entry = {"raw": raw, "value": mask, "names": _names(mask) if mask is not None else [],
                 "unparsed_names": list(bad_names)}
        summary["rbd_default_features"] = entry
        if bad_names:
            problems.append(Problem(
                "config.feature-names", "error",
                "rbd default features = {} names features this tool does not know: {}".format(raw, ", ".join(bad_names)),
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
                    "image`".format(raw, ", ".join(names), unknown),
                    "upgrade the client (librbd1/librados2) to {} or later, or set `rbd default features = {}` "
                    "({}) in the client's ceph.conf".format(
                        upgrade or "a release that knows them", known_part,
                        ", ".join(_names(known_part)) or "no features"),
                    ("known mask 0x{:x} from {}".format(all_mask, all_source),)))
        elif mask is not None:
            entry["unknown_to_library"] = None
        if mask is not None:
            problems.extend(_dependency_problems(raw, mask, tuple(getattr(facts, "versions", None) or ())))
    fmt_raw = values.get("rbd_default_format")
    if fmt_raw is not None:
        try:
            fmt = int(fmt_raw)
        except ValueError:
            fmt = None
        summary["rbd_default_format"] = {"raw": fmt_raw, "value": fmt}
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


def read_file_values(path, order, opener=open):
    """{key: value} of KEYS from ceph.conf ``path`` for the client sections ``order``.

    Raises OSError when the file cannot be read.
    """
    with opener(path, encoding="utf-8", errors="replace") as handle:
        parsed = parse_ceph_conf(handle)
    values = {}
    for key in KEYS:
        value = lookup(parsed, key, order)
        if value is not None:
            values[key] = value
    return values


def configuration(runtime_config, conf_path, conf_source, candidates, client_id=None, client_name=None,
                  facts=None, features_check=None, opener=open):
    """The report's config section and its problems.

    ``runtime_config`` is what the probe child read through librados (its "config" answer)
    or None; without it the file is parsed here (``opener`` reads it) and the section says so.
    """
    order = section_order(client_id, client_name)
    section = {"file": conf_path, "found_via": conf_source, "searched": [p for p, _ in candidates],
               "client": order[0], "read_by": None, "values": {}}
    values = {}
    if runtime_config and runtime_config.get("create_rc") == 0:
        section["read_by"] = "librados (rados_create + rados_conf_read_file + rados_conf_get, no connection)"
        values = dict(runtime_config.get("values") or {})
        if runtime_config.get("read_rc") not in (0, None):
            section["read_rc"] = runtime_config.get("read_rc")
    elif conf_path:
        section["read_by"] = "librbd_probe's ceph.conf parser (the library was not loaded)"
        try:
            values = read_file_values(conf_path, order, opener)
        except OSError as exc:
            return dict(section, error="{}: {}".format(conf_path, exc.strerror)), ()
    else:
        section["read_by"] = "nothing: no ceph.conf found and the library was not loaded"
    section["values"] = {k: v for k, v in sorted(values.items()) if v != ""}
    summary, problems = analyse(section["values"], facts, library_known_mask(features_check))
    section.update(summary)
    return section, problems
