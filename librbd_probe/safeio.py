"""Bounded, non-blocking reading of every file the tool takes as input, one-line text, and secrets.

Three jobs every input path shares (issue 13):

* ``open_regular`` / ``read_bytes`` / ``read_text`` / ``iter_lines``: regular files only.
  The path is ``stat``-ed before it is opened, so a FIFO, device or socket is refused without
  ever being opened (opening a FIFO blocks until a writer comes; opening some devices has side
  effects).  The open itself uses ``O_NONBLOCK`` and the descriptor is ``fstat``-ed again, so a
  file swapped for a FIFO in between is refused too.  Sizes are checked against a limit before
  anything is allocated, and reads never return more than the file's size at open time.
* ``one_line``: control characters (C0, DEL, C1, Unicode line and paragraph separators) in a
  path or value are escaped, so an error stays one line whoever chose the text.
* ``redact``: cephx keys (their shape: base64 of a CryptoKey, type 1 AES or 2, with a length
  field that matches) and any extra secrets given (the keys of the keyrings a configuration
  names) are replaced before text reaches any output.

All refusals raise ``InputError`` (a ``ProbeError`` and ``ValueError``) with one line naming the
input and the path.  ``OSError`` of open/read is turned into ``InputError`` too.
"""
import errno
import os
import stat
import struct

from ._lazy import Pattern
from .errors import InputError

# Limits (bytes) per kind of input; README "Bad input" lists them.  Each is far above any real
# file of its kind and far below what would hurt a small host.
LIMITS = {
    "ceph.conf": 16 << 20,          # Ceph's own cap is 1 GiB (MAX_CONFIG_FILE_SZ, ConfUtils.cc)
    "keyring": 1 << 20,
    "ld.so.conf": 1 << 20,
    "ld.so.cache": 64 << 20,        # a real cache with 100,000 entries is about 10 MB
    "sysfs": 64 << 10,
    "report": 256 << 20,            # a saved JSON report, baseline, policy or fleet input
    "source": 16 << 20,             # a binding's Python source (rbd.py)
}

_KIND_NAMES = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
)

_OS_REASONS = {
    errno.ENOENT: "no such file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENOTDIR: "a path component is not a directory",
    errno.EISDIR: "is a directory",
    errno.ENAMETOOLONG: "file name too long",
}


def kind_problem(mode):
    """Why a file of ``st_mode`` is not read ("is a FIFO ..."), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, text in _KIND_NAMES:
        if test(mode):
            return text
    return "not a regular file"


def os_reason(exc, path=None, fallback="cannot read"):
    """The one-line reason of an OSError ("no such file", "permission denied", ...)."""
    if exc.errno == errno.ENOENT and path is not None and os.path.islink(path):
        return "no such file (dangling symbolic link)"
    return _OS_REASONS.get(exc.errno) or "{}: {}".format(fallback, exc.strerror or exc)


def _label(what, path):
    return "{} {}".format(what, one_line(path)) if what else one_line(path)


def check_regular(path, what=""):
    """``os.stat`` of ``path`` (following symlinks) when it is a regular file, else InputError."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError("{}: {}".format(_label(what, path), os_reason(exc, path))) from exc
    problem = kind_problem(info.st_mode)
    if problem:
        raise InputError("{}: {}".format(_label(what, path), problem))
    return info


def is_null_device(path):
    """True when ``path`` is the null device (/dev/null or another node of it): always empty,
    never blocks.  ``--conf /dev/null`` is Ceph's own idiom for "no configuration"."""
    try:
        info = os.stat(path)
        null = os.stat(os.devnull)
    except (OSError, ValueError, TypeError):
        return False
    return stat.S_ISCHR(info.st_mode) and stat.S_ISCHR(null.st_mode) and info.st_rdev == null.st_rdev


def _limit_of(what, limit):
    if limit is None:
        limit = LIMITS.get(what)
    return limit


def open_regular(path, what="", limit=None):
    """(binary file object, size) of a regular file, never opened when it is not one.

    ``limit``: the largest size accepted (default ``LIMITS[what]``; None means no limit).
    """
    check_regular(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError("{}: {}".format(_label(what, path), os_reason(exc, path))) from exc
    try:
        info = os.fstat(fd)
        problem = kind_problem(info.st_mode)
        if problem:
            raise InputError("{}: {}".format(_label(what, path), problem))
        limit = _limit_of(what, limit)
        if limit is not None and info.st_size > limit:
            raise InputError("{}: {} bytes, over the limit of {} for {}".format(
                _label(what, path), info.st_size, human_size(limit), what or "this input"))
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle, info.st_size


def read_bytes(path, what="", limit=None):
    """The whole content of a regular file (at most its size at open time, at most ``limit``)."""
    handle, size = open_regular(path, what, limit)
    with handle:
        try:
            data = handle.read(size)
        except OSError as exc:
            raise InputError("{}: {}".format(_label(what, path), os_reason(exc))) from exc
    return data


def read_text(path, what="", limit=None, encoding="utf-8", errors="replace"):
    """``read_bytes`` decoded (undecodable bytes replaced, never an exception)."""
    return read_bytes(path, what, limit).decode(encoding, errors)


def iter_byte_lines(path, what="", limit=None, max_line=64 << 10, overlong=b"..."):
    """Lines of a regular file as bytes, each at most ``max_line`` bytes: the rest of a longer
    line is dropped and ``overlong`` marks the cut (its newline, if it had one, is kept); memory
    stays at one line."""
    handle, size = open_regular(path, what, limit)
    left = size
    with handle:
        while left > 0:
            try:
                raw = handle.readline(min(max_line, left))
                if not raw:
                    break
                left -= len(raw)
                if len(raw) >= max_line and not raw.endswith(b"\n"):
                    raw += overlong
                    while left > 0:                   # skip the rest of an overlong line
                        more = handle.readline(min(max_line, left))
                        if not more:
                            break
                        left -= len(more)
                        if more.endswith(b"\n"):
                            raw += b"\n"
                            break
            except OSError as exc:
                raise InputError("{}: {}".format(_label(what, path), os_reason(exc))) from exc
            yield raw


def iter_lines(path, what="", limit=None, max_line=64 << 10, encoding="utf-8"):
    """``iter_byte_lines`` decoded (undecodable bytes replaced)."""
    for raw in iter_byte_lines(path, what, limit, max_line):
        yield raw.decode(encoding, "replace")


def human_size(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "{} {}".format(n >> shift, unit)
    return "{} bytes".format(n)


# ---------------------------------------------------------------------------------- one line

_CONTROL = Pattern("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(match):
    ch = match.group(0)
    code = ord(ch)
    if 0xdc80 <= code <= 0xdcff:                     # a surrogateescape'd byte of a file name
        return "\\x{:02x}".format(code - 0xdc00)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if code <= 0xff:
        return "\\x{:02x}".format(code)
    return "\\u{:04x}".format(code)


def one_line(text):
    """``text`` (str, bytes or path-like) with every control character escaped: never two lines."""
    if text is None:
        return "None"
    if not isinstance(text, str):
        try:
            text = os.fsdecode(text)
        except TypeError:
            text = str(text)
    if text.isprintable():          # every character _CONTROL matches is not printable
        return text
    return _CONTROL.sub(_escape, text)


# ---------------------------------------------------------------------------------- secrets

# A cephx key as Ceph prints it: base64 of CryptoKey::encode = u16 type, utime_t created
# (u32 sec, u32 nsec), u16 secret length, secret (16 bytes for AES: 28 bytes, 40 characters).
# Keys are looked for at every "AQ" / "Ag" (type 1 or 2, little-endian) inside every run of
# base64 characters: a key in a path (/etc/ceph/AQ...==/x; base64 has "/" too) or after an
# escape (JSON's \nAQ...) is inside a longer run.  The key's own length field (16 to 64
# bytes) says where it ends, so each candidate costs a constant.
_RUN = Pattern(r"[A-Za-z0-9+/]{27,}={0,2}")
REDACTED = "<redacted cephx key>"


def is_cephx_key(token):
    """True when ``token`` decodes to a CryptoKey blob: type 1 or 2 and a length that fits."""
    if len(token) < 36 or token[:2] not in ("AQ", "Ag"):
        return False        # type 1 or 2 (little-endian u16) is "AQ"/"Ag"; 28 bytes are 37+ characters
    padded = token + "=" * (-len(token) % 4)
    import base64
    import binascii
    try:
        raw = base64.b64decode(padded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    if len(raw) < 12 + 16:
        return False
    ctype, = struct.unpack_from("<H", raw, 0)
    length, = struct.unpack_from("<H", raw, 10)
    return ctype in (1, 2) and length >= 16 and 12 + length == len(raw)


def _key_at(run, start):
    """End of the cephx key that starts at ``run[start]``, or None."""
    import base64
    import binascii
    try:
        head = base64.b64decode(run[start:start + 16].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if len(head) < 12:
        return None
    length, = struct.unpack_from("<H", head, 10)
    end = start + -(-(12 + length) * 4 // 3)           # characters without padding
    if not 16 <= length <= 64 or end > len(run):
        return None
    while end < len(run) and run[end] == "=" and (end - start) % 4:
        end += 1
    return end if is_cephx_key(run[start:end]) else None


def _redact_keys(text):
    pieces = []
    last = 0
    for match in _RUN.finditer(text):
        run, base = match.group(0), match.start()
        index = run.find("A")
        while index >= 0:
            end = _key_at(run, index) if run[index + 1:index + 2] in ("Q", "g") else None
            if end is not None:
                pieces.append(text[last:base + index])
                pieces.append(REDACTED)
                last = base + end
                index = run.find("A", end)
            else:
                index = run.find("A", index + 1)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def redact(text, secrets=()):
    """``text`` with every cephx key and every string of ``secrets`` replaced by REDACTED."""
    if not text:
        return text
    for secret in sorted((s for s in secrets if s and len(s) >= 8), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "AQ" not in text and "Ag" not in text:     # every key starts so (type 1 or 2)
        return text
    return _redact_keys(text)


def redact_tree(value, secrets=()):
    """A JSON-like structure with every string (keys and values) passed through ``redact``."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_tree(k, secrets): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_tree(v, secrets) for v in value) if isinstance(value, list) \
            else tuple(redact_tree(v, secrets) for v in value)
    return value


# Process-wide registry of the secrets read so far (the keys of the keyrings a configuration
# names): the CLI's one writer redacts them from everything it prints or writes, behind the
# report-level redaction.  Contract: /work/briefs/s15/requests-h13d.md (added by h13d).
_SECRETS = set()


def add_secrets(secrets):
    """Remember secrets (keyring keys) so every later output of this process redacts them."""
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 8:
            _SECRETS.add(secret)


def known_secrets():
    """The secrets added so far (a frozenset)."""
    return frozenset(_SECRETS)

