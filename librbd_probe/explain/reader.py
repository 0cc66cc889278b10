"""Input of ``explain``: text, a file or standard input, read incrementally in binary chunks.

Rotated logs compressed with gzip, xz or bzip2 are recognised by their magic bytes (not by
the file name) and decompressed with the standard library while they are read.  A file of any
size is read to its end (memory stays at two chunks); a compressed stream that ends early (a log
still being written) is read as far as it goes and says so in a notice.  Decompression is bounded
by the ratio (MAX_RATIO): past RATIO_FLOOR, a stream that gives more than MAX_RATIO bytes per
compressed byte read is a decompression bomb and reading stops there, with a notice; so a
compressed log never costs more time than a plain file MAX_RATIO times its size.
A log given by path must be a regular file (``safeio``: a FIFO or device is refused with one
line, never opened); standard input may be anything.
"""
import bz2
import gzip
import io
import lzma
import os
import zlib

from .. import safeio
from ..errors import InputError, UsageError

#: bytes per read; the matcher keeps at most two chunks (plus one carried partial line).
CHUNK_SIZE = 1 << 20

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"))
_HEAD = 65536
#: Bytes out per compressed byte in beyond which a stream is a bomb.  Text logs measured here:
#: gzip 5-35x, bzip2 up to 147x, xz up to 330x (one message repeated a million times with
#: millisecond timestamps, xz -1); a bomb of one byte repeated: gzip ~1,030x (its format's
#: ceiling; gzip -1 230x, never stopped), xz 6,500x, bzip2 370,000x.
MAX_RATIO = 500
#: Decompressed bytes read before the ratio is judged (the start of any file says little).
RATIO_FLOOR = 64 << 20
_CMD = {"gzip": "zcat", "xz": "xzcat", "bzip2": "bzcat"}


class Source(object):
    """An opened input: ``name`` for messages, ``chunks()`` yields bytes until the end.

    ``notices`` collects what the reader had to say about the input (a truncated
    compressed stream); the matcher adds its own.
    """

    def __init__(self, name, raw, compression=None, owned=None, compressed=None):
        self.name = name
        self.compression = compression
        self.notices = []
        self._raw = raw
        self._owned = owned or []
        self._first = None
        self._compressed = compressed       # the stream under the decompressor: its .consumed
        self._out = 0
        self._stopped = False

    def _read(self):
        if self._stopped:
            return b""
        try:
            data = self._raw.read(CHUNK_SIZE)
            self._bounded(len(data))
            return data
        except EOFError:
            # gzip/lzma/bz2: the compressed stream stops before its end marker.
            self.notices.append("the {} stream of {} ends early (truncated or still being written): "
                                "everything up to that point was read".format(self.compression, self.name))
            return b""
        except (OSError, lzma.LZMAError, zlib.error) as exc:
            if self.compression:
                self.notices.append("the {} stream of {} is corrupt after this point ({}): the rest was "
                                    "not read".format(self.compression, self.name, exc))
                return b""
            raise UsageError("{}: cannot be read: {}".format(
                safeio.one_line(self.name), safeio.one_line(getattr(exc, "strerror", None) or exc))) from exc

    def _bounded(self, size):
        """Stop a decompression bomb: past RATIO_FLOOR, more than MAX_RATIO bytes out per byte in."""
        self._out += size
        if self._compressed is None or self._out <= RATIO_FLOOR:
            return
        consumed = max(1, self._compressed.consumed)
        if self._out > MAX_RATIO * consumed:
            self._stopped = True
            self.notices.append(
                "the {} stream of {} expands more than {} times its compressed size ({} bytes from {} compressed "
                "bytes; text logs compress 5 to 330 times): reading stopped there as for a decompression bomb, the "
                "rest was not examined (to read it all anyway: {} FILE | librbd-probe explain)".format(
                    self.compression, self.name, MAX_RATIO, self._out, consumed, _CMD[self.compression]))

    def peek(self):
        """The first chunk (read once), to check the input before the host scan starts."""
        if self._first is None:
            self._first = self._read()
        return self._first

    def chunks(self):
        """The bytes in chunks; the last one ends with a newline (one is added when the input lacks it), so
        that its final line is matched in the same chunk as the lines before it."""
        held = self.peek()
        while held:
            data = self._read()
            if not data:
                break
            yield held
            held = data
        if held:
            yield held if held.endswith(b"\n") else held + b"\n"

    def close(self):
        for handle in reversed(self._owned):
            try:
                handle.close()
            except OSError:
                pass


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes (already read for the magic) put back."""

    def __init__(self, head, rest):
        super(_Prefixed, self).__init__()
        self._head = head
        self._rest = rest
        self.consumed = len(head)           # bytes handed out (to a decompressor: its input)

    def _more(self, size):
        data = self._rest.read(size) or b""
        self.consumed += len(data)
        return data

    def readable(self):
        return True

    def read(self, size=-1):
        if self._head:
            if size is None or size < 0 or size >= len(self._head):
                head, self._head = self._head, b""
                if size is not None and size >= 0 and len(head) < size:
                    return head + self._more(size - len(head))
                return head
            head, self._head = self._head[:size], self._head[size:]
            return head
        return self._more(size)

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _decompressing(name, raw, owned):
    head = raw.read(6) or b""
    stream = _Prefixed(head, raw)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            if kind == "gzip":
                opened = gzip.GzipFile(fileobj=stream, mode="rb")
            elif kind == "xz":
                opened = lzma.LZMAFile(stream)
            else:
                opened = bz2.BZ2File(stream)
            owned.append(opened)
            return Source(name, opened, kind, owned, compressed=stream)
    return Source(name, stream, None, owned)


def open_path(path):
    """A Source for a log file (plain or compressed); UsageError with one line when it cannot be."""
    name = safeio.one_line(path)
    if not os.path.exists(path):
        raise UsageError("{}: --file does not exist".format(name))
    if os.path.isdir(path):
        raise UsageError("{}: --file is a directory".format(name))
    try:
        handle, _size = safeio.open_regular(path, "--file", limit=None)    # logs of any size
    except InputError as exc:
        raise UsageError(str(exc)) from exc
    return _checked(_decompressing(name, handle, [handle]))


def open_stream(stream, name="standard input"):
    """A Source for a binary stream (standard input); compressed input is recognised too."""
    try:
        return _checked(_decompressing(name, stream, []))
    except (OSError, ValueError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError("{} cannot be read: {}".format(safeio.one_line(name), safeio.one_line(exc))) from exc


def open_text(text, name="argument"):
    """A Source for text given as an argument."""
    try:
        data = text.encode("utf-8", "surrogateescape")      # argv: undecodable bytes come back
    except UnicodeEncodeError:
        data = text.encode("utf-8", "backslashreplace")
    return _checked(Source(name, io.BytesIO(data)))


def _checked(source):
    """Reject empty and binary input before anything else runs (one line, naming it)."""
    try:
        head = source.peek()[:_HEAD]
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        source.close()
        raise UsageError("{}: not a readable {} stream: {}".format(
            safeio.one_line(source.name), source.compression or "text", safeio.one_line(exc))) from exc
    if not head.strip():
        source.close()
        raise UsageError("{}: empty input, nothing to explain".format(safeio.one_line(source.name)))
    if b"\x00" in head or _mostly_binary(head):
        source.close()
        raise UsageError("{}: binary data, not a text log".format(safeio.one_line(source.name)))
    return source


def _mostly_binary(head):
    text = head.decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\r\n\t\f\x1b"))
    return odd > max(8, len(text) // 20)
