"""Saved JSON documents read back: reports (``diff``, ``--baseline``), fleet inputs, ``--consumer``.

Reading goes through ``safeio`` (regular files only, never opened blocking, at most
``LIMITS["report"]`` bytes).  Parsing refuses, with one line, what ``json.loads`` would accept but
the code after it could not use: NaN and Infinity, numbers of more than ``MAX_DIGITS`` digits
(Python's int-string limit and its quadratic conversion), nesting deeper than ``MAX_DEPTH``
(100,000 ``[`` make ``json.loads`` raise RecursionError), text that is not UTF-8.
``check()`` then holds a document against a small shape spec, so that a valid JSON document of
the wrong shape (a list, a number, a string where an object belongs) is a one-line error that
names the field instead of an AttributeError deep in the comparison.
"""
import json

from . import safeio
from .errors import InputError

#: a real report nests 6 levels deep; a fleet's Ansible output about 10.
MAX_DEPTH = 64
#: digits of an integer or characters of a number (a feature mask of 64 bits has 20 digits).
MAX_DIGITS = 64

NONE = type(None)


class _Refused(ValueError):
    pass


def _parse_int(text):
    if len(text) > MAX_DIGITS:
        raise _Refused("a number of {} digits".format(len(text)))
    return int(text)


def _parse_float(text):
    if len(text) > MAX_DIGITS:
        raise _Refused("a number of {} characters".format(len(text)))
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused("a number out of range ({})".format(text[:24]))
    return value


def _parse_constant(name):
    raise _Refused("{} (not a JSON number)".format(name))


def _depth_over(doc, limit):
    """True when ``doc`` nests deeper than ``limit`` (iterative: no recursion of its own)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def loads(data, source, what="JSON", error=InputError, not_json="is not valid JSON"):
    """Parse ``data`` (bytes or str) of ``source``; ``error`` (one line) for anything refused
    (``not_json``: the phrase for text that is no JSON at all)."""
    label = "{}: {}".format(safeio.one_line(source), what) if what else "{}:".format(safeio.one_line(source))
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error("{} is not UTF-8 text (byte {} at offset {})".format(
                label, "0x{:02x}".format(data[exc.start]), exc.start)) from exc
    try:
        doc = json.loads(data, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError as exc:
        raise error("{} nests deeper than {} levels".format(label, MAX_DEPTH)) from exc
    except _Refused as exc:
        raise error("{} holds {}".format(label, exc)) from exc
    except ValueError as exc:
        raise error("{} {} ({})".format(label, not_json, safeio.one_line(str(exc).split("\n")[0]))) from exc
    if _depth_over(doc, MAX_DEPTH):
        raise error("{} nests deeper than {} levels".format(label, MAX_DEPTH))
    return doc


def read(path, what, error=InputError, not_json="is not valid JSON"):
    """The parsed JSON document of the regular file ``path`` (``what`` names it in messages)."""
    data = safeio.read_bytes(path, what, limit=safeio.LIMITS["report"])
    return loads(data, path, what, error, not_json)


# ------------------------------------------------------------------------------- shapes
# A spec is a type or tuple of types (``NONE`` admits null), a dict {key: spec} (an object whose
# listed keys, when present, match; other keys are not looked at), a one-element list [spec]
# (an array of items matching spec), or Map(spec) (an object whose every value matches).

class Map(object):
    __slots__ = ("spec",)

    def __init__(self, spec):
        self.spec = spec


_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number",
          bool: "true/false", NONE: "null"}


def _name(value):
    return _NAMES.get(type(value), type(value).__name__)


def _want(spec):
    if isinstance(spec, tuple):
        return " or ".join(_want(alt) for alt in spec)
    if isinstance(spec, (dict, Map)):
        return "an object"
    if isinstance(spec, list):
        return "an array"
    return _NAMES.get(spec, spec.__name__)


def _fits(value, spec):
    """Does ``value`` have the outer type of ``spec`` (one alternative, not a tuple)?"""
    if isinstance(spec, (dict, Map)):
        return isinstance(value, dict)
    if isinstance(spec, list):
        return isinstance(value, list)
    if isinstance(value, bool):             # a bool is an int to Python, never to a report reader
        return spec is bool
    if spec is float:                       # an integer where a number is wanted is a number
        return isinstance(value, (int, float))
    return isinstance(value, spec)


def problem(value, spec, where="the document"):
    """None when ``value`` matches ``spec``, else one phrase naming the first field that does not."""
    for alt in (spec if isinstance(spec, tuple) else (spec,)):
        if _fits(value, alt):
            return _inner(value, alt, where)
    return "{} is {}, not {}".format(where, _name(value), _want(spec))


def _inner(value, spec, where):
    if isinstance(spec, dict):
        for key, sub in spec.items():
            if key in value:
                found = problem(value[key], sub, key if where == "the document" else where + "." + key)
                if found:
                    return found
    elif isinstance(spec, Map):
        for key, item in value.items():
            found = problem(item, spec.spec, "{}.{}".format(where, safeio.one_line(key)[:80]))
            if found:
                return found
    elif isinstance(spec, list):
        for index, item in enumerate(value):
            found = problem(item, spec[0], "{}[{}]".format(where, index))
            if found:
                return found
    return None
