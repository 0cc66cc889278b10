"""``explain``: error text -> findings with cause, evidence, confidence and fix.

The parts, one job each:
- ``reader``: text, files, standard input and gzip/xz/bzip2 logs, read in chunks (I/O edge);
- ``normalise``: repr'd tracebacks unfolded into lines (pure);
- ``matcher``: prefilter + signatures over a stream, related findings folded together,
  deduplicated with counts, line numbers and timestamps (pure, linear, bounded memory);
- ``analyse``: each finding explained against this host's report (pure);
- ``hostinfo``: the host evidence the analyses need beyond the report (I/O edge).
"""
from .. import knowledge as kn
from .analyse import CONFIDENCES, Explanation, Finding, HostContext, explain_occurrences
from .matcher import Compiled, Matcher
from .normalise import normalise
from .reader import Source, open_path, open_stream, open_text

__all__ = ["CONFIDENCES", "Explanation", "Finding", "HostContext", "compiled", "explain", "explain_source",
           "find", "normalise", "open_path", "open_stream", "open_text"]

_COMPILED = []


def _signatures():
    """The signatures as written in errors.json (validated by the knowledge layer first): the
    matcher also reads the fields the knowledge records do not carry (keywords, key, ...)."""
    kn.error_signatures()
    return kn.load("errors.json")["signatures"]


def compiled(signatures=None):
    """The signatures (errors.json) and prefilter (explain.json), compiled once (or ``signatures`` given)."""
    if signatures is not None:
        return Compiled(signatures, kn.load("explain.json")["prefilter"])
    if not _COMPILED:
        _COMPILED.append(Compiled(_signatures(), kn.load("explain.json")["prefilter"]))
    return _COMPILED[0]


def find(source, signatures=None):
    """Run the matcher over a Source: (occurrences, notices, lines read)."""
    matcher = Matcher(compiled(signatures))
    try:
        for chunk in source.chunks():
            matcher.feed(chunk)
    finally:
        source.close()
    occurrences, notices, lines = matcher.finish()
    return occurrences, list(source.notices) + notices, lines


def explain_source(report, source, context=None, signatures=None):
    """Explain every known error signature in a Source (file, stream) against ``report``."""
    occurrences, notices, lines = find(source, signatures)
    return explain_occurrences(report, occurrences, source=source.name, context=context, notices=notices, lines=lines)


def explain(report, text, source="text", context=None, signatures=None):
    """Explain every known error signature in ``text`` against ``report``; an Explanation."""
    src = Source(source, _BytesReader(text))
    return explain_source(report, src, context=context, signatures=signatures)


class _BytesReader(object):
    def __init__(self, text):
        import io
        # surrogateescape gives back the bytes of a decoded file; any other lone surrogate
        # (text built by a caller) is kept as its escape, never an exception
        try:
            data = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "backslashreplace")
        self._data = io.BytesIO(data)

    def read(self, size):
        return self._data.read(size)

    def close(self):
        pass
