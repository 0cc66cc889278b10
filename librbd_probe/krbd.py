"""The kernel RBD client (krbd): which image features ``rbd map`` accepts on this host.

drivers/block/rbd.c exposes RBD_FEATURES_SUPPORTED as /sys/bus/rbd/supported_features
(``sprintf(buf, "0x%llx\\n", ...)``, Linux 4.11+).  The read (``read_supported``) is
separate from the pure parsing (``parse_mask``) and analysis (``analyse``); ``section``
puts them together for the scan.
"""
import os
import sys

from . import knowledge as kn
from . import safeio
from .errors import InputError
from .model import Problem
from .rootfs import Root

SUPPORTED = "bus/rbd/supported_features"


# What drivers/block/rbd.c writes: "0x%llx\n".  Decimal is accepted too; nothing else (int()
# alone would take "0x_3d", Unicode digits or thousands of digits).
# (the regex \A(?:0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})\Z, written without re)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DEC_DIGITS = frozenset("0123456789")


def _is_mask_text(text):
    if text[:2] in ("0x", "0X"):
        digits = text[2:]
        return 1 <= len(digits) <= 16 and _HEX_DIGITS.issuperset(digits)
    return 1 <= len(text) <= 20 and _DEC_DIGITS.issuperset(text)


def parse_mask(text):
    """'0x3d\\n' -> 61; None when it is not a number the kernel would write."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not _is_mask_text(text):
        return None
    value = int(text, 16) if text[:2] in ("0x", "0X") else int(text, 10)
    return value if value < 1 << 64 else None


def read_supported(sysfs="/sys"):
    """(mask or None, reason when None).  The file is read through safeio (a regular file of
    at most LIMITS["sysfs"] bytes; a FIFO or device put in its place is never opened)."""
    if not sys.platform.startswith("linux"):
        return None, "not Linux: there is no kernel RBD client"
    path = os.path.join(sysfs, SUPPORTED)
    shown = safeio.one_line(path)
    try:
        os.stat(path)
    except FileNotFoundError:
        if os.path.isdir(os.path.join(sysfs, "bus", "rbd")):
            return None, "{} is missing: the rbd module predates Linux 4.11's supported_features".format(shown)
        return None, "the rbd kernel module is not loaded ({} absent; modprobe rbd)".format(
            safeio.one_line(os.path.join(sysfs, "bus", "rbd")))
    except OSError as exc:
        return None, "{}: {}".format(shown, safeio.os_reason(exc, path))
    try:
        text = safeio.read_text(path, "sysfs")
    except InputError as exc:
        return None, safeio.one_line(str(exc))
    mask = parse_mask(text)
    if mask is None:
        return None, "{}: unexpected content {}".format(
            shown, safeio.one_line(repr(text[:40])))
    return mask, None


def section(sysfs="/sys", root=None, configured_features=None):
    """The report's krbd section and its problems, for this host's running kernel.

    Under a root (a ``rootfs.Root`` that is not the host, or a directory name) the running
    kernel is not the target's: nothing is read.
    """
    if root is not None and not Root.of(root).is_host:
        return {"supported_features": None,
                "reason": "static scan of a root: the running kernel is not the target's"}, ()
    mask, reason = read_supported(sysfs)
    return analyse(mask, reason, configured_features)


def analyse(mask, reason=None, configured_features=None):
    """What ``rbd map`` accepts (``mask`` from supported_features) against the configured
    default features (pure).  Returns (section dict, tuple of Problem)."""
    out = {"supported_features": mask, "reason": reason}
    if mask is None:
        return out, ()
    out["names"] = list(kn.feature_names(mask))
    problems = []
    if configured_features is not None:
        rejected = configured_features & ~mask
        out["rejected_by_rbd_map"] = list(kn.feature_names(rejected))
        if rejected:
            problems.append(Problem(
                "krbd.unsupported-features", "warning",
                "images created with the configured default features cannot be mapped by this kernel: "
                "rbd map fails with \"image uses unsupported features: 0x{:x}\" ({})".format(
                    rejected, ", ".join(out["rejected_by_rbd_map"])),
                "disable those features on images meant for krbd (rbd feature disable IMAGE ...), use rbd-nbd, "
                "or upgrade the kernel"))
    return out, tuple(problems)
