"""Child side of the protocol (see ``librbd_probe/children/__init__.py``), shared by both children.

Runs inside the child interpreter as the top-level module ``_child_io``, made by the
bootstrap from the source the parent sent; it never imports the librbd_probe package.
Before the child's work loads anything, fd 1 is pointed at stderr so a library's own prints
can never be mistaken for the answer; the answer goes to the saved original stdout as one
JSON object carrying the parent's nonce; core dumps are off; library destructors are skipped
at exit (librados/librbd tear-down threads can hang or crash and would turn a good answer
into a failure).

The answer is written by ``_jsonout.dumps`` (sent to the child with this module), not the
json module: importing json (and the re, enum and functools it pulls in) is about 7 ms of the
probe child's start, a third of a bare ``ctypes.CDLL`` (bench/bench_startup.py).  It writes
the bytes ``json.dumps(value, sort_keys=True)`` writes (tests/test_startup.py compares them).
"""
import errno
import os
import sys

if __package__:                          # in the parent (tests, the package)
    from .._jsonout import dumps
else:                                    # in the child: a top-level module sent with this one
    from _jsonout import dumps           # noqa: F401


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


def serve(run, request, preload=None):
    """Answer ``run(request)`` (a payload dict, optionally with "error") and exit.

    A child started before the parent knew the whole request (``children.start(preload=True)``)
    gets partial records ``{"preload": true, ...}`` first, each followed by another on stdin:
    ``preload(record)`` does what it can with each (the probe child: dlopen the files named, in
    its run's order); the last record is the whole request.
    """
    out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    try:
        while request.get("preload"):
            if preload is not None:
                preload(request)
            import marshal
            request = marshal.load(sys.stdin.buffer)
        result = run(request)
    except Exception as exc:  # noqa: BLE001 - the one broad except: it becomes a JSON error record
        result = {"error": error("exception", "{}: {}".format(type(exc).__name__, exc)[:2000])}
    result.setdefault("error", None)
    result["nonce"] = request.get("nonce")
    data = dumps(result).encode("utf-8")
    while data:
        data = data[os.write(out_fd, data):]
    os.close(out_fd)
    sys.stdout.flush()
    os._exit(0)
