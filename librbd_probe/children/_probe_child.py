"""The probe child: load the Ceph libraries, ask them, answer with one JSON object.

Runs alone in a child interpreter started by ``librbd_probe.children.run("probe", ...)``
(``python -E -s -c <bootstrap>``, sources and request on stdin; protocol in
``librbd_probe/children/__init__.py``).  It never imports the librbd_probe package: whatever
a hostile or broken library does here (crash in a constructor, hang, print to stdout, exit)
stays in this process.  It never connects to a cluster.
"""
import ctypes
import errno
import os

import _child_io
import _ctypes_api


# Configuration keys whose values are secrets: never read, whoever asks.
_SECRET_KEYS = frozenset(("key", "keyfile", "keyring", "secret", "auth_supported_secret"))


class _DlInfo(ctypes.Structure):
    # struct Dl_info from <dlfcn.h>
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _version_triple(lib, name):
    func = _ctypes_api.bind(lib, name)
    major, minor, extra = ctypes.c_int(-1), ctypes.c_int(-1), ctypes.c_int(-1)
    func(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(extra))
    return [major.value, minor.value, extra.value]


def _owner(libc_dladdr, lib, name):
    """Which loaded file defines ``name`` as the loader resolves it from ``lib``'s handle.

    dlsym on a handle searches the handle's whole dependency tree (dlsym(3)), so a rados_*
    name looked up through librbd's handle is found in librados: only dladdr tells where the
    address really lives.
    """
    try:
        address = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
    except AttributeError:
        return None
    info = _DlInfo()
    if address and libc_dladdr(ctypes.c_void_p(address), ctypes.byref(info)) and info.dli_fname:
        return os.path.realpath(info.dli_fname.decode("utf-8", "surrogateescape"))
    return "?"


def _loaded_objects():
    objects = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    base = os.path.basename(path)
                    if (base.startswith(("librbd", "librados", "libceph-common", "libcryptsetup"))
                            and path not in objects):
                        objects.append(path)
    except OSError:
        pass
    return sorted(objects)


def _ceph_version(result):
    """Ask libceph-common (already mapped as a dependency) for the Ceph version string."""
    for path in result["loaded_objects"]:
        if os.path.basename(path).startswith("libceph-common"):
            try:
                common = ctypes.CDLL(path)
            except OSError:
                return
            for key, name in (("ceph_version", "_Z19ceph_version_to_strv"),
                              ("ceph_release", "_Z19ceph_release_to_strv")):
                try:
                    value = _ctypes_api.bind(common, name)()
                except AttributeError:
                    continue
                if value:
                    result[key] = value.decode("utf-8", "replace")[:200]
            return


def _features_check(lib, masks):
    """rbd_features_to_string(mask, NULL, &len): -EINVAL for unknown bits, -ERANGE for known."""
    try:
        func = _ctypes_api.bind(lib, "rbd_features_to_string")
    except AttributeError:
        return None
    out = {}
    for mask in masks:
        size = ctypes.c_size_t(0)
        rc = func(ctypes.c_uint64(mask), None, ctypes.byref(size))
        names = None
        if rc == -errno.ERANGE and 0 < size.value < 65536:   # the mask is known; ask again
            buf = ctypes.create_string_buffer(size.value)
            rc2 = func(ctypes.c_uint64(mask), buf, ctypes.byref(size))
            if rc2 == 0:
                names = buf.value.decode("utf-8", "replace")
        out[str(mask)] = {"rc": rc, "names": names}
    return out


def _read_config(librados, request):
    """rados_create + conf reads, never rados_connect: what would a client on this host use."""
    conf = request.get("config")
    if not conf:
        return None
    out = {"values": {}, "errors": {}}
    try:
        create = _ctypes_api.bind(librados, "rados_create")
        read_file = _ctypes_api.bind(librados, "rados_conf_read_file")
        conf_get = _ctypes_api.bind(librados, "rados_conf_get")
        shutdown = _ctypes_api.bind(librados, "rados_shutdown")
    except AttributeError as exc:
        out["error"] = _child_io.error("symbol", "missing symbol: {}".format(exc), stage="config")
        return out
    handle = ctypes.c_void_p()
    client_id = conf.get("id")
    if conf.get("name"):
        try:
            create2 = _ctypes_api.bind(librados, "rados_create2")
            rc = create2(ctypes.byref(handle), b"ceph", conf["name"].encode(), 0)
        except AttributeError:
            rc = create(ctypes.byref(handle), conf["name"].split(".", 1)[-1].encode())
    else:
        rc = create(ctypes.byref(handle), client_id.encode() if client_id else None)
    out["create_rc"] = rc
    if rc < 0:
        return out
    try:
        path = conf.get("path")
        # Only the file the parent chose and checked (a regular file within its size limit) is
        # handed over, never NULL: librados's own search would open a FIFO at
        # /etc/ceph/ceph.conf and block, or read a file of any size whole.
        if path and conf.get("read", True):
            out["read_rc"] = read_file(handle, path.encode("utf-8", "surrogateescape"))
        else:
            out["read_skipped"] = True
        secrets = _secrets(conf_get, handle)
        for key in conf.get("keys", []):
            if key.replace(" ", "_") in _SECRET_KEYS:
                out["errors"][key] = "refused: secret"
                continue
            rc, value = _get(conf_get, handle, key)
            if rc == 0:
                out["values"][key] = _redacted(value, secrets)
            else:
                out["errors"][key] = rc
        # the paths librados itself expanded ($cluster, $name): the parent reads their keys to
        # redact them (paths, not secrets)
        for key in ("keyring", "keyfile"):
            rc, value = _get(conf_get, handle, key)
            if rc == 0:
                out[key] = _redacted(value, secrets)
    finally:
        shutdown(handle)
    if conf.get("raw"):
        out["checks"] = _check_values(create, conf_get, shutdown, librados, conf["raw"], client_id)
    return out


def _get(conf_get, handle, key):
    buf = ctypes.create_string_buffer(65536)
    rc = conf_get(handle, key.encode(), buf, ctypes.c_size_t(len(buf)))
    return rc, buf.value.decode("utf-8", "replace") if rc == 0 else None


def _secrets(conf_get, handle):
    """The key librados holds (the `key` option, expanded): replaced in every value returned,
    so `rbd default data pool = $key` never carries it out of this process."""
    rc, value = _get(conf_get, handle, "key")
    return [value] if rc == 0 and value and len(value) >= 8 else []


def _redacted(value, secrets):
    for secret in secrets:
        value = value.replace(secret, "<redacted cephx key>")
    return value


def _check_values(create, conf_get, shutdown, librados, raw, client_id):
    """The library's own verdict on each value as written in the file: rados_conf_set on a
    fresh handle, then rados_conf_get (what it stores; on rejection, what it keeps)."""
    try:
        conf_set = _ctypes_api.bind(librados, "rados_conf_set")
    except AttributeError:
        return None
    checks = {}
    for key, text in sorted(raw.items()):
        if key.replace(" ", "_") in _SECRET_KEYS or not isinstance(text, str):
            continue
        handle = ctypes.c_void_p()
        if create(ctypes.byref(handle), client_id.encode() if client_id else None) < 0:
            return checks
        try:
            # a fresh handle parses CEPH_ARGS (--key too): its key is redacted like the first's
            secrets = _secrets(conf_get, handle)
            rc = conf_set(handle, key.encode(), text.encode("utf-8", "surrogateescape"))
            get_rc, stored = _get(conf_get, handle, key)
            checks[key] = {"rc": rc, "stored": _redacted(stored, secrets) if get_rc == 0 else None}
        finally:
            shutdown(handle)
    return checks


def run(request):
    result = {"loaded": False, "error": None, "symbols": {},
              "loaded_objects": [], "rbd_version": None, "rados_version": None,
              "ceph_version": None, "ceph_release": None, "features_check": None, "config": None}
    libc = ctypes.CDLL(None)
    dladdr = libc.dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    librados = librbd = None
    try:
        # librados first and global, so librbd's DT_NEEDED librados.so.2 binds to the copy
        # the user chose (glibc matches an already-loaded object by its soname).
        if request.get("librados"):
            librados = ctypes.CDLL(request["librados"], mode=ctypes.RTLD_GLOBAL)
        if request.get("librbd"):
            librbd = ctypes.CDLL(request["librbd"], mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        result["error"] = _child_io.error("load", str(exc)[:2000], stage="dlopen")
        result["loaded_objects"] = _loaded_objects()
        return result
    result["loaded"] = True
    result["loaded_objects"] = _loaded_objects()
    handle = librbd or librados
    for name in request.get("symbols", []):
        owner = _owner(dladdr, handle, name)
        result["symbols"][name] = {"found": owner is not None, "owner": owner}
    if librbd is not None and hasattr(librbd, "rbd_version"):
        result["rbd_version"] = _version_triple(librbd, "rbd_version")
    if librados is None and librbd is not None:
        librados = librbd            # rados_* resolve through librbd's dependency tree
    if librados is not None and hasattr(librados, "rados_version"):
        result["rados_version"] = _version_triple(librados, "rados_version")
    _ceph_version(result)
    if librbd is not None and request.get("feature_masks"):
        result["features_check"] = _features_check(librbd, request["feature_masks"])
    if librados is not None and hasattr(librados, "rados_create"):
        result["config"] = _read_config(librados, request)
    return result


def main(request):
    _child_io.serve(run, request)
