"""What both child scripts (``_child.py``, ``_live_child.py``) do around their work.

Imported by them as a sibling top-level module, never through the package.  Before anything
is loaded, fd 1 is pointed at stderr so a library's own prints can never be mistaken for the
answer; the answer goes to the saved original stdout as one JSON object carrying the parent's
nonce; core dumps are off; library destructors are skipped at exit (librados/librbd tear-down
threads can hang or crash and would turn a good answer into a failure).
"""
import json
import os
import sys


def serve(run, error_record):
    """Read the JSON request on stdin, answer ``run(request)`` (or ``error_record(exc)``), exit."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    request = {}
    try:
        request = json.loads(sys.stdin.read())
        result = run(request)
    except Exception as exc:  # noqa: BLE001 - the one broad except: it becomes a JSON error record
        result = dict(error_record("{}: {}".format(type(exc).__name__, exc)[:2000]), nonce=request.get("nonce"))
    data = json.dumps(result, sort_keys=True).encode("utf-8")
    while data:
        data = data[os.write(out_fd, data):]
    os.close(out_fd)
    sys.stdout.flush()
    os._exit(0)
