"""Child side of the protocol (see ``librbd_probe/children/__init__.py``), shared by both children.

Runs inside the child interpreter as the top-level module ``_child_io``, made by the
bootstrap from the source the parent sent; it never imports the librbd_probe package.
Before the child's work loads anything, fd 1 is pointed at stderr so a library's own prints
can never be mistaken for the answer; the answer goes to the saved original stdout as one
JSON object carrying the parent's nonce; core dumps are off; library destructors are skipped
at exit (librados/librbd tear-down threads can hang or crash and would turn a good answer
into a failure).

The answer is written by ``dumps`` below, not the json module: importing json (and the re,
enum and functools it pulls in) is about 7 ms of the probe child's start, a third of a bare
``ctypes.CDLL`` (bench/bench_startup.py).  ``dumps`` writes the bytes ``json.dumps(value,
sort_keys=True)`` writes for what the children answer (tests/test_startup.py compares them).
"""
import errno
import os
import sys

# json's ensure_ascii escapes (json.encoder.ESCAPE_DCT): the short ones, then \u00XX below 0x20
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _string(text):
    if text.isprintable() and '"' not in text and "\\" not in text:
        try:
            text.encode("ascii")               # printable ASCII: written as it is (the usual case)
            return '"' + text + '"'
        except UnicodeEncodeError:
            pass
    out = ['"']
    for char in text:
        code = ord(char)
        if 0x20 <= code < 0x7f and char != '"' and char != "\\":
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x10000:
            out.append("\\u{:04x}".format(code))
        else:                                  # a surrogate pair, as json writes it
            code -= 0x10000
            out.append("\\u{:04x}\\u{:04x}".format(0xd800 | (code >> 10), 0xdc00 | (code & 0x3ff)))
    out.append('"')
    return "".join(out)


def _key(key):
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return _scalar(key)
    raise TypeError("keys must be str, int, float, bool or None, not {}".format(type(key).__name__))


def _scalar(value):
    if isinstance(value, int):
        return int.__repr__(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def dumps(value):
    """``json.dumps(value, sort_keys=True)`` for None, bool, int, float, str, list, tuple, dict."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (int, float)):
        return _scalar(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ", ".join(_string(_key(k)) + ": " + dumps(v) for k, v in items) + "}"
    raise TypeError("Object of type {} is not JSON serializable".format(type(value).__name__))


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
