"""``json.loads`` for the knowledge files and the children's answers, without importing json.

Importing json (its decoder, scanner and encoder, five regular expressions compiled at import)
costs about 1.3 ms of every command-line run; the text report never writes JSON.  ``loads``
calls the C scanner json itself decodes with (``_json.make_scanner``, the same code and
options as ``json.loads``) and skips JSON's whitespace as ``JSONDecoder.decode`` does; any
failure, or an interpreter without ``_json``, goes to ``json.loads`` itself, so errors and
results are json's own (tests/test_startup.py compares both on every shipped data file and on
malformed text).
"""
try:
    from _json import make_scanner as _make_scanner
except ImportError:                       # pragma: no cover - an interpreter without the C accelerator
    _make_scanner = None

_WS = " \t\n\r"


class _Context(object):
    """What the C scanner reads from a JSONDecoder (json.loads' defaults)."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_SCANNER = []


def loads(text):
    """``json.loads(text)`` for a str."""
    if _make_scanner is not None and isinstance(text, str):
        if not _SCANNER:
            _SCANNER.append(_make_scanner(_Context()))
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = _SCANNER[0](text, start)
        except (StopIteration, ValueError, RecursionError):
            value, end = None, -1
        if end >= 0 and not text[end:].strip(_WS):
            return value
    import json
    return json.loads(text)
