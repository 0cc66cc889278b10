"""The client configuration: which ceph.conf a client on this host reads, and what it asks for.

Values are read in the child by librados itself (rados_create + rados_conf_read_file +
rados_conf_get, never rados_connect).  When nothing can be loaded (static mode, foreign
architecture) ``parse_ceph_conf`` reads the file the way src/common/ConfUtils.cc does, and the
report says so.  Secrets (key, keyring contents) are never read nor printed.
"""
import os
import re

#: Options this tool reads; never add "key", "keyfile" or "keyring".
KEYS = ("rbd_default_features", "rbd_default_format", "rbd_default_stripe_unit",
        "rbd_default_stripe_count", "rbd_default_data_pool")


def search_path(explicit=None, environ=None, root=None, cwd=None, cluster="ceph"):
    """Candidate files in librados's order (src/common/config.cc, CEPH_CONF_FILE_DEFAULT).

    ``--conf`` wins; else $CEPH_CONF; else /etc/ceph/<cluster>.conf, ~/.ceph/<cluster>.conf,
    ./<cluster>.conf.  Under ``root`` only the system file is meaningful.
    """
    environ = os.environ if environ is None else environ
    if explicit:
        return [(explicit, "--conf")]
    if root:
        return [(os.path.join(root, "etc/ceph/{}.conf".format(cluster)), "root /etc/ceph")]
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


def parse_features(value, feature_defs):
    """``"61"`` or ``"layering,exclusive-lock"`` -> (mask, unknown names); mask None if unparseable."""
    text = (value or "").strip()
    if re.match(r"^(0x[0-9a-fA-F]+|\d+)$", text):
        return int(text, 0), ()
    by_name = {f["name"]: f["mask"] for f in feature_defs}
    mask = 0
    unknown = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part in by_name:
            mask |= by_name[part]
        else:
            unknown.append(part)
    if not text:
        return None, ()
    return mask, tuple(unknown)


def feature_names(mask, feature_defs):
    """Names of the bits set in ``mask`` (bits without a name appear as bit<N>)."""
    names = []
    known = {f["bit"]: f["name"] for f in feature_defs}
    for bit in range(64):
        if mask & (1 << bit):
            names.append(known.get(bit, "bit{}".format(bit)))
    return names


def _first_release_for(names, feature_defs, releases_by_version):
    firsts = [f.get("first") for f in feature_defs if f["name"] in names and f.get("first")]
    if not firsts:
        return None
    from .identify import version_key
    newest = max(firsts, key=version_key)
    codename = releases_by_version.get(newest)
    return "{}{}".format(newest, " ({})".format(codename) if codename else "")


def analyse(values, facts, feature_defs, releases_by_version=None, library_known_mask=None):
    """What the configuration asks for, and whether this library can honour it.

    ``values`` are option strings as librados returned them; ``facts`` come from
    identify.release_facts().  Returns (summary dict, problems as (id, severity, message,
    fix, evidence) tuples) -- the caller turns them into Problem records.
    """
    from .model import Problem
    releases_by_version = releases_by_version or {}
    summary = {}
    problems = []
    all_mask, all_source = facts.get("rbd_features_all", (None, "release not identified"))
    if library_known_mask is not None:
        all_mask, all_source = library_known_mask, "the library's own rbd_features_to_string answers"
    raw = values.get("rbd_default_features")
    if raw is not None:
        mask, bad_names = parse_features(raw, feature_defs)
        entry = {"raw": raw, "value": mask, "names": feature_names(mask, feature_defs) if mask is not None else [],
                 "unparsed_names": list(bad_names)}
        summary["rbd_default_features"] = entry
        if bad_names:
            problems.append(Problem(
                "config.feature-names", "error",
                "rbd default features = {} names features this tool does not know: {}".format(raw, ", ".join(bad_names)),
                "use the numeric mask or the names from `rbd help create`"))
        if mask is not None and all_mask is not None:
            unknown = mask & ~all_mask
            entry["unknown_to_library"] = feature_names(unknown, feature_defs)
            if unknown:
                names = feature_names(unknown, feature_defs)
                known_part = mask & all_mask
                upgrade = _first_release_for(names, feature_defs, releases_by_version)
                problems.append(Problem(
                    "config.unknown-features", "error",
                    "rbd default features = {} asks for {} (0x{:x}), which this librbd does not know: every "
                    "create without explicit features fails with -ENOSYS (\"librbd does not support requested "
                    "features\"), which the Python binding raises as `FunctionNotSupported: error creating "
                    "image`".format(raw, ", ".join(names), unknown),
                    "upgrade the client (librbd1/librados2) to {} or later, or set `rbd default features = {}` "
                    "({}) in the client's ceph.conf".format(
                        upgrade or "a release that knows them", known_part,
                        ", ".join(feature_names(known_part, feature_defs)) or "no features"),
                    ("known mask 0x{:x} from {}".format(all_mask, all_source),)))
        elif mask is not None:
            entry["unknown_to_library"] = None
        if mask is not None:
            by_name = {f["name"]: f for f in feature_defs}
            for name in feature_names(mask, feature_defs):
                feature = by_name.get(name) or {}
                for needed in feature.get("requires") or ():
                    if needed in feature_names(mask, feature_defs):
                        continue
                    if feature.get("requires_effect") == "dropped":
                        problems.append(Problem(
                            "config.feature-dropped", "warning",
                            "rbd default features = {} has {} without {}: new images silently get no {}".format(
                                raw, name, needed, name),
                            "add {} to rbd default features or drop {}".format(needed, name),
                            (feature.get("requires_source") or "",)))
                        continue
                    problems.append(Problem(
                        "config.feature-dependency", "error",
                        "rbd default features = {} has {} without {}: creates fail with -EINVAL "
                        "(\"cannot use {} without {}\")".format(
                            raw, name, needed, name.replace("-", " "), needed.replace("-", " ")),
                        "add {} to rbd default features or drop {}".format(needed, name),
                        (feature.get("requires_source") or "",)))
    fmt_raw = values.get("rbd_default_format")
    if fmt_raw is not None:
        try:
            fmt = int(fmt_raw)
        except ValueError:
            fmt = None
        summary["rbd_default_format"] = {"raw": fmt_raw, "value": fmt}
        policy, policy_source = facts.get("format1_create", (None, ""))
        if fmt == 1 and policy and policy.startswith("refused"):
            problems.append(Problem(
                "config.format1-refused", "error",
                "rbd default format = 1, but this librbd refuses to create format 1 images: creates fail with "
                "-EINVAL (\"Format 1 image creation unsupported\"), raised by the Python binding as "
                "`InvalidArgument: error creating image`",
                "set `rbd default format = 2` (format 1 is deprecated), or export RBD_FORCE_ALLOW_V1=1 in the "
                "client's environment as a stopgap", (policy_source,)))
    return summary, problems
