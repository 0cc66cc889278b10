"""The live child: connect to the cluster and run ONE live-mode action.

Actions (request "action"): "facts" (daemon versions and OSD map flags), "trial" (create one
scratch image with one create path, read back what it got, remove it), "cleanup" (remove
scratch images by the rules the parent sends).  Started like the probe child by
``librbd_probe.children.run("live", ...)`` (``python -I -S -c <bootstrap>``; protocol in
``librbd_probe/children/__init__.py``): it never imports the package, answers on the saved
stdout with the parent's nonce, reports failures as the one error-record shape, and only
ever removes images whose names the parent listed or that match the exact scratch pattern.
"""
import ctypes
import errno
import json
import os
import re
import time

import _child_io
import _ctypes_api

OPT = _ctypes_api.CONSTANTS


def _bind(lib, name):
    return _ctypes_api.bind(lib, name)


def _connect(librados, req):
    handle = ctypes.c_void_p()
    name = req.get("client_name")
    if name:
        rc = _bind(librados, "rados_create2")(ctypes.byref(handle), b"ceph", name.encode(), 0)
    else:
        cid = req.get("client_id")
        rc = _bind(librados, "rados_create")(ctypes.byref(handle), cid.encode() if cid else None)
    if rc < 0:
        return None, _child_io.rc_error("rados", "create", "rados_create2" if name else "rados_create", rc)
    conf = req.get("conf")
    rc = _bind(librados, "rados_conf_read_file")(handle, conf.encode() if conf else None)
    if rc < 0 and conf:
        return None, _child_io.rc_error("rados", "conf", "rados_conf_read_file", rc)
    conf_set = _bind(librados, "rados_conf_set")
    if req.get("keyring"):
        conf_set(handle, b"keyring", req["keyring"].encode())
    timeout = str(int(req.get("connect_timeout", 10))).encode()
    for option in (b"client_mount_timeout", b"rados_mon_op_timeout", b"rados_osd_op_timeout"):
        conf_set(handle, option, timeout)
    rc = _bind(librados, "rados_connect")(handle)
    if rc < 0:
        return None, _child_io.rc_error("rados", "connect", "rados_connect", rc)
    return handle, None


def _mon_command(librados, handle, command):
    cmd = (ctypes.c_char_p * 1)(json.dumps(command).encode())
    outbuf, outs = ctypes.c_void_p(), ctypes.c_void_p()
    outbuf_len, outs_len = ctypes.c_size_t(), ctypes.c_size_t()
    rc = _bind(librados, "rados_mon_command")(handle, cmd, 1, b"", 0, ctypes.byref(outbuf), ctypes.byref(outbuf_len),
                                              ctypes.byref(outs), ctypes.byref(outs_len))
    data = ctypes.string_at(outbuf.value, outbuf_len.value) if outbuf.value and outbuf_len.value else b""
    free = _bind(librados, "rados_buffer_free")
    for buf in (outbuf, outs):
        if buf.value:
            free(buf)
    return rc, data


def _facts(librados, handle):
    out = {}
    rc, data = _mon_command(librados, handle, {"prefix": "versions", "format": "json"})
    out["versions_rc"] = rc
    if rc == 0:
        out["versions"] = json.loads(data.decode("utf-8", "replace") or "{}")
    rc, data = _mon_command(librados, handle, {"prefix": "osd dump", "format": "json"})
    out["osd_dump_rc"] = rc
    if rc == 0:
        dump = json.loads(data.decode("utf-8", "replace") or "{}")
        for key in ("require_min_compat_client", "min_compat_client", "require_osd_release"):
            out[key] = dump.get(key)
    return out


def _ioctx(librados, handle, req):
    io = ctypes.c_void_p()
    rc = _bind(librados, "rados_ioctx_create")(handle, req["pool"].encode(), ctypes.byref(io))
    if rc < 0:
        return None, rc
    if req.get("namespace"):
        _bind(librados, "rados_ioctx_set_namespace")(io, req["namespace"].encode())
    return io, 0


def _inspect(librbd, io, name):
    image = ctypes.c_void_p()
    rc = _bind(librbd, "rbd_open")(io, name.encode(), ctypes.byref(image), None)
    if rc < 0:
        return {"open_rc": rc}
    got = {}
    try:
        features = ctypes.c_uint64()
        if _bind(librbd, "rbd_get_features")(image, ctypes.byref(features)) == 0:
            got["features"] = features.value
        old = ctypes.c_uint8()
        if _bind(librbd, "rbd_get_old_format")(image, ctypes.byref(old)) == 0:
            got["format"] = 1 if old.value else 2
        for key, func in (("stripe_unit", "rbd_get_stripe_unit"), ("stripe_count", "rbd_get_stripe_count")):
            value = ctypes.c_uint64()
            if _bind(librbd, func)(image, ctypes.byref(value)) == 0:
                got[key] = value.value
    finally:
        _bind(librbd, "rbd_close")(image)
    return got


def _create(librbd, io, trial):
    name = trial["name"].encode()
    size = ctypes.c_uint64(trial.get("size", 1 << 22))
    order = ctypes.c_int(trial.get("order", 22))
    path = trial["path"]
    if trial.get("force_v1"):
        os.environ["RBD_FORCE_ALLOW_V1"] = "1"     # read by librbd with getenv() at create time
    else:
        os.environ.pop("RBD_FORCE_ALLOW_V1", None)
    if path == "rbd_create":
        return _bind(librbd, "rbd_create")(io, name, size, ctypes.byref(order))
    if path == "rbd_create2":
        return _bind(librbd, "rbd_create2")(io, name, size, ctypes.c_uint64(trial["features"]), ctypes.byref(order))
    if path == "rbd_create3":
        return _bind(librbd, "rbd_create3")(io, name, size, ctypes.c_uint64(trial["features"]), ctypes.byref(order),
                                            ctypes.c_uint64(trial["stripe_unit"]), ctypes.c_uint64(trial["stripe_count"]))
    opts = ctypes.c_void_p()
    _bind(librbd, "rbd_image_options_create")(ctypes.byref(opts))
    try:
        set_u64 = _bind(librbd, "rbd_image_options_set_uint64")
        if trial.get("format"):
            set_u64(opts, OPT["RBD_IMAGE_OPTION_FORMAT"], ctypes.c_uint64(trial["format"]))
        if trial.get("features") is not None:
            set_u64(opts, OPT["RBD_IMAGE_OPTION_FEATURES"], ctypes.c_uint64(trial["features"]))
        if trial.get("stripe_unit"):
            set_u64(opts, OPT["RBD_IMAGE_OPTION_STRIPE_UNIT"], ctypes.c_uint64(trial["stripe_unit"]))
            set_u64(opts, OPT["RBD_IMAGE_OPTION_STRIPE_COUNT"], ctypes.c_uint64(trial["stripe_count"]))
        if trial.get("data_pool"):
            _bind(librbd, "rbd_image_options_set_string")(opts, OPT["RBD_IMAGE_OPTION_DATA_POOL"],
                                                          trial["data_pool"].encode())
        return _bind(librbd, "rbd_create4")(io, name, size, opts)
    finally:
        _bind(librbd, "rbd_image_options_destroy")(opts)


# The only names this tool ever removes: librbd-probe-<unix time>-<host tag>-<pid>-<random>-<n>
SCRATCH = re.compile(r"^librbd-probe-(\d{9,11})-([0-9a-f]{8})-(\d+)-([0-9a-f]{8})-(\d+)$")


def _removable(name, req):
    """Why a scratch image may be removed now, or None (then it is left alone)."""
    match = SCRATCH.match(name)
    if not match:
        return None
    stamp, host, pid = int(match.group(1)), match.group(2), int(match.group(3))
    if req.get("run_prefix") and name.startswith(req["run_prefix"]):
        return "this run"
    if stamp < req.get("stale_before", 0):
        return "older than the stale bound"
    if host == req.get("host") and pid != req.get("parent_pid") and not _pid_alive(pid):
        return "left by a run on this host that no longer exists (pid {})".format(pid)
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _list(librbd, io):
    size = ctypes.c_size_t(0)
    func = _bind(librbd, "rbd_list")
    rc = func(io, None, ctypes.byref(size))
    if rc >= 0 and size.value == 0:
        return []
    for _ in range(3):
        buf = ctypes.create_string_buffer(max(size.value, 1))
        rc = func(io, buf, ctypes.byref(size))
        if rc >= 0:
            return [n.decode("utf-8", "replace") for n in buf.raw[:size.value].split(b"\0") if n]
        if rc != -errno.ERANGE:
            return None
    return None


def run(req):
    result = {}
    try:
        librados = ctypes.CDLL(req["librados"], mode=ctypes.RTLD_GLOBAL) if req.get("librados") else None
        librbd = ctypes.CDLL(req["librbd"], mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        result["error"] = _child_io.error("load", str(exc)[:2000], stage="dlopen")
        return result
    librados = librados or librbd
    handle, error = _connect(librados, req)
    if error:
        result["error"] = error
        return result
    try:
        action = req["action"]
        if action == "facts":
            result["facts"] = _facts(librados, handle)
            return result
        io, rc = _ioctx(librados, handle, req)
        if io is None:
            result["error"] = _child_io.rc_error("rados", "pool", "rados_ioctx_create", rc)
            return result
        try:
            if action == "trial":
                trial = req["trial"]
                start = time.time()
                rc = _create(librbd, io, trial)
                result["rc"] = rc
                if rc == 0:
                    result["got"] = _inspect(librbd, io, trial["name"])
                    result["remove_rc"] = _bind(librbd, "rbd_remove")(io, trial["name"].encode())
                result["seconds"] = round(time.time() - start, 3)
            elif action == "cleanup":
                names = _list(librbd, io)
                result["listed"] = names is not None
                scratch = [n for n in names or [] if SCRATCH.match(n)]
                removed, failed = [], []
                # A client killed with an image open leaves a watch that the OSD drops only after
                # its watch timeout (30 s by default): rbd_remove says -EBUSY until then.
                deadline = time.time() + req.get("busy_grace", 45)
                for name in scratch:
                    reason = _removable(name, req)
                    if not reason:
                        continue
                    rc = _bind(librbd, "rbd_remove")(io, name.encode())
                    while rc == -errno.EBUSY and time.time() < deadline:
                        time.sleep(1)
                        rc = _bind(librbd, "rbd_remove")(io, name.encode())
                    if rc == 0:
                        removed.append({"name": name, "why": reason})
                    else:
                        failed.append({"name": name, "why": reason, "rc": rc})
                result["removed"] = removed
                result["failed"] = failed
                result["scratch"] = [n for n in scratch if n not in {r["name"] for r in removed}]
        finally:
            _bind(librados, "rados_ioctx_destroy")(io)
    finally:
        _bind(librados, "rados_shutdown")(handle)
    return result


def main(request):
    _child_io.serve(run, request)
