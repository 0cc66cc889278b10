"""The kernel RBD client (krbd): which image features ``rbd map`` accepts on this host.

drivers/block/rbd.c exposes RBD_FEATURES_SUPPORTED as /sys/bus/rbd/supported_features
(``sprintf(buf, "0x%llx\\n", ...)``, Linux 4.11+).  Pure parsing is separate from the read.
"""
import os
import sys

SUPPORTED = "bus/rbd/supported_features"


def parse_mask(text):
    """'0x3d\\n' -> 61; None when it is not a number."""
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def read_supported(sysfs="/sys"):
    """(mask or None, reason when None)."""
    if not sys.platform.startswith("linux"):
        return None, "not Linux: there is no kernel RBD client"
    path = os.path.join(sysfs, SUPPORTED)
    try:
        with open(path) as handle:
            text = handle.read(256)
    except FileNotFoundError:
        if os.path.isdir(os.path.join(sysfs, "bus", "rbd")):
            return None, "{} is missing: the rbd module predates Linux 4.11's supported_features".format(path)
        return None, "the rbd kernel module is not loaded ({} absent; modprobe rbd)".format(os.path.join(sysfs, "bus", "rbd"))
    except OSError as exc:
        return None, "{}: {}".format(path, exc.strerror or exc)
    mask = parse_mask(text)
    if mask is None:
        return None, "{}: unexpected content {!r}".format(path, text[:40])
    return mask, None
