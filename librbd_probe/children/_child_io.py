"""Child side of the protocol (see ``librbd_probe/children/__init__.py``), shared by both children.

Runs inside the child interpreter as the top-level module ``_child_io``, made by the
bootstrap from the source the parent sent; it never imports the librbd_probe package.
Before the child's work loads anything, fd 1 is pointed at stderr so a library's own prints
can never be mistaken for the answer; the answer goes to the saved original stdout as one
JSON object carrying the parent's nonce; core dumps are off; library destructors are skipped
at exit (librados/librbd tear-down threads can hang or crash and would turn a good answer
into a failure).
"""
import errno
import json
import os
import sys


def error(kind, message, **extra):
    """The one error-record shape: ``{"kind", "message", ...}`` (None values left out)."""
    out = {"kind": kind, "message": message}
    out.update((k, v) for k, v in extra.items() if v is not None)
    return out


def rc_error(kind, stage, call, rc, **extra):
    """Error record for a library call that returned a negative errno."""
    name = errno.errorcode.get(-rc, "E?{}".format(-rc)) if rc < 0 else None
    text = "{} returned {}".format(call, rc)
    if name:
        text += " ({}: {})".format(name, os.strerror(-rc))
    return error(kind, text, stage=stage, rc=rc, errno=name, **extra)


def serve(run, request):
    """Answer ``run(request)`` (a payload dict, optionally with "error") and exit."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    try:
        result = run(request)
    except Exception as exc:  # noqa: BLE001 - the one broad except: it becomes a JSON error record
        result = {"error": error("exception", "{}: {}".format(type(exc).__name__, exc)[:2000])}
    result.setdefault("error", None)
    result["nonce"] = request.get("nonce")
    data = json.dumps(result, sort_keys=True).encode("utf-8")
    while data:
        data = data[os.write(out_fd, data):]
    os.close(out_fd)
    sys.stdout.flush()
    os._exit(0)
