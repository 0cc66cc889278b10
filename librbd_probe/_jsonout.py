"""The one JSON writer: ``json.dumps(value, sort_keys=True)`` and, with ``indent=2``,
``json.dumps(value, indent=2, sort_keys=True)``, without importing json.

Importing json (its decoder, scanner and encoder: five regular expressions compiled, with re,
enum and functools) is about 7 ms of a 25 ms run on this project's test machine, and json's
indented encoder is pure Python anyway (its C encoder serves only ``indent=None``)
(bench/bench_startup.py).  Used by the command line's ``--json`` (render.to_json) and by the
probe children, which get this module's code with their own (children/__init__.py): the child
runs it as the top-level module ``_jsonout`` and never imports the librbd_probe package.

The same algorithm as json/encoder.py (``ensure_ascii=True``, ``allow_nan=True``, separators
``(", ", ": ")`` or, indented, ``(",", ": ")``) for None, bool, int, float, str, list, tuple
and dict, with json's own TypeError for anything else; tests/test_startup.py compares the bytes
with json.dumps on every report and child answer the tests make and on random values.
"""

# json's ensure_ascii escapes (json.encoder.ESCAPE_DCT): the short ones, then \u00XX below 0x20
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def string(text):
    """A JSON string literal, ASCII only (json's encode_basestring_ascii)."""
    if text.isprintable():
        try:
            text.encode("ascii")               # printable ASCII: written as it is (the usual case)
        except UnicodeEncodeError:
            pass
        else:
            if '"' in text or "\\" in text:  # the only two escapes printable ASCII can need
                text = text.replace("\\", "\\\\").replace('"', '\\"')
            return '"' + text + '"'
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


def dumps(value, indent=None):
    """``json.dumps(value, sort_keys=True)``, or with ``indent`` (spaces) json's indented form."""
    if indent is None:
        return _compact(value)
    out = []
    _indented(value, " " * indent, "\n", out)
    return "".join(out)


def _compact(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (int, float)):
        return _scalar(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ", ".join(string(_key(k)) + ": " + _compact(v) for k, v in items) + "}"
    raise TypeError("Object of type {} is not JSON serializable".format(type(value).__name__))


def _indented(value, step, newline, out):
    """json's _make_iterencode with an indent: ``newline`` is "\\n" plus this level's indent."""
    if type(value) is str:                     # most values: no isinstance chain for them
        out.append(string(value))
    elif isinstance(value, (list, tuple)) and value:
        inner = newline + step
        out.append("[" + inner)
        for index, item in enumerate(value):
            if index:
                out.append("," + inner)
            _indented(item, step, inner, out)
        out.append(newline + "]")
    elif isinstance(value, dict) and value:
        inner = newline + step
        out.append("{" + inner)
        for index, (key, item) in enumerate(sorted(value.items())):
            if index:
                out.append("," + inner)
            out.append(string(_key(key)) + ": ")
            _indented(item, step, inner, out)
        out.append(newline + "}")
    elif isinstance(value, (list, tuple, dict)):
        out.append("[]" if not isinstance(value, dict) else "{}")
    else:
        out.append(_compact(value))


def to_json(data):
    """The command line's ``--json``: ``to_plain(data)`` as canonical JSON (sorted keys, 2-space
    indent, final newline; the same bytes for the same input).  render.to_json is this; here so a
    ``--json`` run need not import the text renderers.  (Only in the package: the children never
    call it.)"""
    from .model import to_plain
    return dumps(to_plain(data), indent=2) + "\n"
