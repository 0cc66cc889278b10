"""``json.dumps(value, indent=2, sort_keys=True)`` without importing json.

The json package compiles five regular expressions at import and its indented encoder is pure
Python anyway (the C encoder serves only ``indent=None``): importing it, with re and enum, is
about 7 ms of a 25 ms ``--json`` run on this project's test machine (bench/bench_startup.py).
This is the same algorithm (json/encoder.py ``_make_iterencode`` with ``ensure_ascii=True``,
``allow_nan=True``, separators ``(",", ": ")``), for the JSON-ready builtins ``to_plain`` makes;
tests/test_startup.py compares it with json.dumps on every report the tests make and on random
values.  Anything else (another type, a non-string key json would refuse) goes to json.dumps
itself, so its errors stay json's own.
"""

_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_INDENT = "  "


class _Fallback(Exception):
    """A value this encoder leaves to json.dumps."""


def _char(ch):
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if " " <= ch <= "~":
        return ch
    if code < 0x10000:
        return "\\u{0:04x}".format(code)
    code -= 0x10000
    return "\\u{0:04x}\\u{1:04x}".format(0xd800 | ((code >> 10) & 0x3ff), 0xdc00 | (code & 0x3ff))


def string(text):
    """A JSON string literal, ASCII only (json's encode_basestring_ascii)."""
    if text.isprintable() and (not text or max(text) <= "~") and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    return '"' + "".join(_char(ch) for ch in text) + '"'


def _float(value):
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise _Fallback()


def _encode(value, level, out):
    if isinstance(value, str):
        out.append(string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = "\n" + _INDENT * (level + 1)
        out.append("[" + inner)
        first = True
        for item in value:
            if not first:
                out.append("," + inner)
            first = False
            _encode(item, level + 1, out)
        out.append("\n" + _INDENT * level + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        try:
            items = sorted(value.items())
        except TypeError:
            raise _Fallback()
        inner = "\n" + _INDENT * (level + 1)
        out.append("{" + inner)
        first = True
        for key, item in items:
            if not first:
                out.append("," + inner)
            first = False
            out.append(string(_key(key)) + ": ")
            _encode(item, level + 1, out)
        out.append("\n" + _INDENT * level + "}")
    else:
        raise _Fallback()


def dumps(value):
    """``json.dumps(value, indent=2, sort_keys=True)``."""
    out = []
    try:
        _encode(value, 0, out)
    except (_Fallback, RecursionError):
        import json
        return json.dumps(value, indent=2, sort_keys=True)
    return "".join(out)
