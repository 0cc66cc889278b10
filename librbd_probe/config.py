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
        value = re.split(r"\s[#;]", value, 1)[0].strip().strip('"')
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
