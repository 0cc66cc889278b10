"""The host evidence ``explain`` needs beyond the scan report (the I/O edge of explain).

Read here, never in the analyses: the running kernel (release, /lib/modules, its
CONFIG_BLK_DEV_RBD from /boot/config-* or /proc/config.gz, the rbd module file), where each
client option's value comes from (which ceph.conf and section, CEPH_ARGS, or the library's
compiled-in default), whether RBD_FORCE_ALLOW_V1 is set, and QEMU's rbd block module.
Secrets are never read: of CEPH_ARGS only the option names are looked at.
"""
import gzip
import os
import re
import sys

from .. import config as config_mod
from .. import knowledge as kn
from .. import safeio
from ..errors import ProbeError

_CONFIG_LINE = re.compile(rb"^(?:CONFIG_BLK_DEV_RBD=(?P<value>[ym])|# CONFIG_BLK_DEV_RBD is not set)", re.M)


def kernel_facts(release, root=None):
    """modules_dir, rbd_config ('y'/'m'/'n'/None), config_source, rbd_module for ``release``."""
    base = root or "/"
    modules = os.path.join(base, "lib/modules", release)
    facts = {"modules_dir": os.path.isdir(modules), "rbd_config": None, "config_source": None, "rbd_module": None}
    for path, opener in ((os.path.join(base, "boot", "config-" + release), open),
                         (os.path.join(base, "proc/config.gz"), gzip.open)):
        try:
            with opener(path, "rb") as handle:
                data = handle.read(4 * 1024 * 1024)
        except (OSError, EOFError):
            continue
        match = _CONFIG_LINE.search(data)
        facts["rbd_config"] = match.group("value").decode() if match and match.group("value") else ("n" if match else "n")
        facts["config_source"] = path
        break
    drivers = os.path.join(modules, "kernel", "drivers", "block")
    try:
        for name in sorted(os.listdir(drivers)):
            if name.startswith("rbd.ko"):
                facts["rbd_module"] = os.path.join(drivers, name)
                break
    except OSError:
        pass
    return facts


def _ceph_args_options(environ):
    """Names of the options CEPH_ARGS sets (never their values: it may hold --key)."""
    names = set()
    for token in (environ.get("CEPH_ARGS") or "").split():
        if token.startswith("--"):
            names.add(config_mod.normalize_key(token[2:].split("=", 1)[0].replace("-", "_")))
    return names


def report_problems(report):
    """The report's problems as dicts (a Report's records or a loaded report's dicts)."""
    out = []
    for problem in getattr(report, "problems", None) or ():
        out.append(problem._asdict() if hasattr(problem, "_asdict") else dict(problem) if hasattr(problem, "keys")
                   else {})
    return out


def config_origin(report, environ):
    """option -> sentence: where the client's value of each option comes from."""
    conf = report.config or {}
    origins = {}
    path = conf.get("file")
    sections = {}
    if path:
        try:
            # bounded and regular files only (safeio); a refused file explains nothing
            sections = config_mod.read_conf(path)
        except ProbeError:
            sections = {}
    # the report's own verdict on the whole file (config.file-rejected / -aborts-librados)
    whole = [p.get("message") for p in report_problems(report)
             if p.get("id") in ("config.file-rejected", "config.file-aborts-librados")]
    order = [conf.get("client") or "client.admin", (conf.get("client") or "client.admin").split(".", 1)[0], "global"]
    from_env = _ceph_args_options(environ) if environ is not None else set()
    facts = (report.release or {}).get("facts") or {}
    for key in config_mod.KEYS:
        for section in order:
            if key in sections.get(section, {}):
                origins[key] = "set in {} [{}]".format(path, section)
                if whole:
                    origins[key] = ("the library's compiled-in default ({} [{}] sets it, but librados applies "
                                    "nothing of that file: {})".format(path, section, whole[0]))
                break
        else:
            default = (facts.get(key.replace("rbd_", "", 1)) or {}) if key in ("rbd_default_features", "rbd_default_format") else {}
            origins[key] = "the library's compiled-in default ({}{}; {})".format(
                "no ceph.conf sets it: {} {}".format(path, ", ".join("[{}]".format(s) for s in order)) if path else
                "no ceph.conf was found: searched {}".format(", ".join(conf.get("searched") or ()) or "nothing"),
                ", CEPH_ARGS does not set it" if environ is not None and key not in from_env else "",
                "this release's default: {} ({})".format(default.get("value"), default.get("source")) if default.get("value") is not None
                else "value as librados reported it")
        if key in from_env:
            origins[key] += ("; but CEPH_ARGS in this environment sets --{} too, and programs that parse CEPH_ARGS "
                             "(the rbd CLI, the Python binding) use its value instead".format(key.replace("_", "-")))
    # a path may hold a key; every keyring secret read so far is redacted too
    return safeio.redact_tree(origins, safeio.known_secrets())


def gather(report, base, environ=None):
    """``base`` (consumers.explain_context's HostContext) plus kernel, config origin, environment, QEMU."""
    environ = os.environ if environ is None else environ
    on_host = report.root is None
    kernel = None
    if on_host and base.kernel_release:
        kernel = kernel_facts(base.kernel_release)
    qemu = None
    if on_host:
        paths = (kn.load("explain.json").get("facts") or {}).get("qemu_rbd_modules", {}).get("paths", ())
        qemu = tuple(p for p in paths if os.path.exists(p))
    env = {"RBD_FORCE_ALLOW_V1": bool(environ.get("RBD_FORCE_ALLOW_V1")),
           "CEPH_ARGS": bool(environ.get("CEPH_ARGS"))} if on_host else None
    return base._replace(kernel=kernel, config_origin=config_origin(report, environ if on_host else None),
                         environment=env, qemu_modules=qemu, platform=sys.platform if on_host else None)
