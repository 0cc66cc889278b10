"""Runs alone in a child interpreter: ask the monitors which clients are connected.

The census part of live mode (``--live --census``), started by
``librbd_probe.children.run("census", ...)`` with the protocol of
``librbd_probe/children/__init__.py``.  Connects like ``_live_child.py`` (whose connection
helpers it reuses: the parent sends that module too), then sends read-only monitor commands:
``features`` (the monitor's feature groups: mask, release name it infers, count), ``mon dump``
(the monitor names) and, to each monitor by name through ``rados_mon_command_target``,
``sessions`` (one entry per connection: entity, address, con_features).  The session list is
not a command of the monitor quorum (``rados_mon_command`` answers -EINVAL "unrecognized
command"); it is answered by each monitor for its own sessions, like ``ceph tell mon.a
sessions``.  The raw JSON texts go back to the parent, which decodes them (census.py).
Nothing is written to the cluster.
"""
import ctypes
import json

import _child_io
import _ctypes_api
import _live_child

# int rados_mon_command_target(rados_t, const char *name, const char **cmd, size_t cmdlen,
#     const char *inbuf, size_t inbuflen, char **outbuf, size_t *outbuflen, char **outs,
#     size_t *outslen)  (src/include/rados/librados.h).  Requested for the one table in
# requests-h12b.md (issue 12); added here only while the table lacks it.
_ctypes_api.SIGNATURES.setdefault("rados_mon_command_target", (
    "int", ("void*", "const char*", "char**", "size_t", "const char*", "size_t",
            "char**out", "size_t*", "char**out", "size_t*")))

MAX_MONS = 16


def _mon_command_target(librados, handle, mon, command):
    cmd = (ctypes.c_char_p * 1)(json.dumps(command).encode())
    outbuf, outs = ctypes.c_void_p(), ctypes.c_void_p()
    outbuf_len, outs_len = ctypes.c_size_t(), ctypes.c_size_t()
    rc = _ctypes_api.bind(librados, "rados_mon_command_target")(
        handle, mon.encode(), cmd, 1, b"", 0, ctypes.byref(outbuf), ctypes.byref(outbuf_len),
        ctypes.byref(outs), ctypes.byref(outs_len))
    data = ctypes.string_at(outbuf.value, outbuf_len.value) if outbuf.value and outbuf_len.value else b""
    status = ctypes.string_at(outs.value, outs_len.value) if outs.value and outs_len.value else b""
    free = _ctypes_api.bind(librados, "rados_buffer_free")
    for buf in (outbuf, outs):
        if buf.value:
            free(buf)
    return rc, data, status


def _text(data):
    return data.decode("utf-8", "replace")


def census(librados, handle):
    out = {}
    rc, data = _live_child._mon_command(librados, handle, {"prefix": "features", "format": "json"})
    out["features_rc"], out["features"] = rc, _text(data) if rc == 0 else None
    rc, data = _live_child._mon_command(librados, handle, {"prefix": "mon dump", "format": "json"})
    out["mon_dump_rc"] = rc
    names = []
    if rc == 0:
        try:
            names = [m.get("name") for m in json.loads(_text(data) or "{}").get("mons", []) if m.get("name")]
        except ValueError:
            names = []
    out["sessions"] = {}
    for name in names[:MAX_MONS]:
        rc, data, status = _mon_command_target(librados, handle, name, {"prefix": "sessions", "format": "json"})
        out["sessions"][name] = {"rc": rc, "text": _text(data) if rc == 0 else None,
                                 "status": _text(status)[:300] or None}
    return out


def run(req):
    result = {"nonce": req.get("nonce")}
    librados = ctypes.CDLL(req["librados"], mode=ctypes.RTLD_GLOBAL) if req.get("librados") else None
    librbd = ctypes.CDLL(req["librbd"], mode=ctypes.RTLD_GLOBAL) if req.get("librbd") else None
    librados = librados or librbd
    handle, error = _live_child._connect(librados, req)
    if error:
        result["error"] = error
        return result
    try:
        result["census"] = census(librados, handle)
    finally:
        _ctypes_api.bind(librados, "rados_shutdown")(handle)
    return result


def main(request):
    _child_io.serve(run, request)
