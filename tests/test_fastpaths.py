"""The start-up fast paths (issue 13 item 8) against the standard-library code they stand in for.

A plain scan imports no re, json, textwrap, fnmatch or collections (tests/test_startup.py checks
the imports); each place that used one now has code of its own, and each is compared here with
the original on hand-picked edge cases and on thousands of random inputs from a small alphabet
of the characters that matter.  The oracles are the standard library's own modules (re, json,
textwrap, fnmatch, collections.namedtuple), never this package's code.
"""
import collections
import fnmatch
import json
import random
import re
import textwrap

import pytest

from librbd_probe import _jsonout, _lazy, config, identify, krbd, locate, model, rootfs, safeio, textout
from librbd_probe import knowledge as kn


def _texts(alphabet, count, longest, seed):
    rng = random.Random(seed)
    for _ in range(count):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, longest + 1)))


# --- regular expressions replaced by string code -------------------------------------------

def _version_key_by_regex(text):
    """version_key as it was written with the regex (the reference)."""
    match = re.match(r"\s*(?:\d+:)?[vV]?(\d+(?:\.\d+)*)", text)
    if not match:
        return (-1,)
    parts = match.group(1).split(".")
    if len(parts) > 16 or any(len(part) > 18 for part in parts):
        return (-1,)
    return tuple(int(part) for part in parts)


def test_version_key_equals_the_version_regex():
    cases = ["16.2.15", "2:16.2.15-1", "v0.48argonaut", " 17.2.6-1234-gabcdef", "2:x", "2:", ":1", "1:v2.3",
             "1..2", "1.2.", "v", "vv1", "\u00a016", "\u0663.\u0664", "1.\u00b2", "", "\n\t 7",
             "1" * 18, "1" * 19, "1" * 19 + ":16.2", "\u0663" * 20 + ":16.2", "1." * 16 + "1", "1." * 15 + "1",
             "1." * 15 + "1" * 19, "9:" + "1" * 30, "1" * 18 + ".2." + "3" * 19]
    alphabet = ["1", "2", "0", ".", ":", "v", "V", " ", "\t", "x", "-", "\u0663", "\u00a0", "\u2003", "\u00b2", "\n"]
    for text in cases + list(_texts(alphabet, 50000, 12, 1)):
        assert kn.version_key.__wrapped__(text) == _version_key_by_regex(text), repr(text)


@pytest.mark.parametrize("text", [" " * 10 ** 6 + "16.2", "1" * 10 ** 6, "1." * 500000, "\u0663" * 10 ** 6 + ":1",
                                  "v" + "0" * 10 ** 6], ids=["spaces", "digits", "dots", "unicode digits", "v0s"])
def test_version_key_of_megabytes_is_bounded(text):
    import time
    started = time.process_time()
    assert kn.version_key.__wrapped__(text) == _version_key_by_regex(text)
    assert time.process_time() - started < 0.5


def test_feature_name_split_equals_the_split_regex():
    regex = re.compile(r"[\s,+|]+")
    alphabet = ["layering", "a", ",", "+", "|", " ", "\t", "\u00a0", "\u2028", "\x1c", "x"]
    for text in list(_texts(alphabet, 20000, 8, 2)):
        expected = [n for n in regex.split(text.strip()) if n]
        if expected:
            try:
                got = kn.feature_mask(text)
            except kn.KnowledgeBaseError as exc:
                got = str(exc)
            try:
                want = kn.feature_mask(expected)
            except kn.KnowledgeBaseError as exc:
                want = str(exc)
            assert got == want, repr(text)
    assert kn.feature_mask("layering, exclusive-lock+object-map|fast-diff") == kn.feature_mask(
        ["layering", "exclusive-lock", "object-map", "fast-diff"])


def test_file_version_equals_the_dotted_regex():
    regex = re.compile(r"^\d+(\.\d+)*$")
    cases = ["1.16.0", "1", "", "1.", ".1", "1..2", "1.2\n", "1.2\n\n", "\u0661.\u0662", "1.\u00b2", "12.3a", "1.2 "]
    for text in cases + list(_texts(["1", "0", ".", "a", "\n", "\u0661", "\u00b2", " "], 20000, 7, 3)):
        assert locate._dotted(text) == bool(regex.match(text)), repr(text)
    assert locate.file_version("/usr/lib/librbd.so.1.16.0", "librbd.so.1") == "1.16.0"
    assert locate.file_version("/usr/lib/librbd.so.1.16.0\n", "librbd.so.1") == "1.16.0\n"   # as re's $ had it
    assert locate.file_version("/usr/lib/librbd.so.1.x", "librbd.so.1") is None


@pytest.mark.parametrize("pattern", ["*.conf", "*", "a*", "*a*", "a*b*c", "**", "*conf*", "a*b", "x", "",
                                     "*.c*f", "a*a", "ab*ab", "*b*b", "?.conf", "[ab]*", "*[!x]"])
def test_name_matches_equals_fnmatch(pattern):
    names = ["a.conf", ".conf", "conf", "a.conf.bak", "x", "aaa", "a*b", "ab", "a\nb.conf", "abab", "aXbXc",
             "b.conf", "", "*"] + list(_texts(["a", "b", "c", ".", "*", "x", "\n"], 2000, 6, 4))
    for name in names:
        assert rootfs.name_matches(name, pattern) == fnmatch.fnmatch(name, pattern), (name, pattern)


def test_version_finder_equals_its_regex_on_random_bytes():
    finder = identify.version_string_pattern()
    regex = re.compile(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})(?=\x00)")   # as identify.REGEX
    assert finder.REGEX.pattern == regex.pattern
    rng = random.Random(5)
    for _ in range(20000):
        data = bytes(rng.choice(b"0123456789..\x00\x00x") for _ in range(rng.randrange(0, 60)))
        assert [(m.start(), m.group(1)) for m in finder.finditer(data)] == \
            [(m.start(), m.group(1)) for m in regex.finditer(data)], data


def test_version_finder_on_a_piece_full_of_dots_asks_the_regex():
    """A hostile .rodata of dots and digits: the regex's C loop, the same answers, bounded time."""
    import time
    finder = identify.version_string_pattern()
    data = (b".1.2x" * 200000) + b"\x0016.2.15\x00" + (b"\x001.2.3\x00" * 1000)
    started = time.process_time()
    got = [(m.start(), m.group(1)) for m in finder.finditer(data)]
    assert time.process_time() - started < 0.5
    assert got == [(m.start(), m.group(1)) for m in re.finditer(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})(?=\x00)", data)]
    assert len(data) > finder.MAX_PIECE


def test_version_finder_on_hostile_and_long_pieces_inside_its_limit():
    """Pieces up to MAX_PIECE are split, not regex-matched: a piece that is all dots and
    digits, all NULs and dots, versions back to back, and long random pieces with many
    versions, each the regex's answer within bounded time."""
    import time
    finder = identify.version_string_pattern()
    regex = re.compile(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})(?=\x00)")
    limit = finder.MAX_PIECE
    rng = random.Random(11)
    pieces = [(b".1.2x" * limit)[:limit], (b"\x00." * limit)[:limit], (b"\x0016.2.15" * limit)[:limit] + b"\x00",
              b"\x001.2.3\x004.5.6\x0078.90.123\x00", b"16.2.15\x00", b"\x0016.2.15", b"\x00016.2.15\x00",
              b"\x001.2.1234\x00", b"\x00123.1.1\x00", b"\x001.123.1\x00", b"\x00\x001.2.3\x00\x00"]
    for _ in range(300):
        pieces.append(bytes(rng.choice(b"0123456789...\x00\x00\x00xy") for _ in range(rng.randrange(0, 5000))))
    for data in pieces:
        started = time.process_time()
        got = [(m.start(), m.group(1)) for m in finder.finditer(data)]
        assert time.process_time() - started < 0.5
        assert got == [(m.start(), m.group(1)) for m in regex.finditer(data)], data[:80]


def test_krbd_mask_text_equals_the_mask_regex():
    regex = re.compile(r"\A(?:0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})\Z")
    cases = ["0x", "0X1", "0x" + "f" * 16, "0x" + "f" * 17, "1" * 20, "1" * 21, "", "\u0663", "0x3d", "61", "0x_3d"]
    alphabet = ["0", "1", "9", "a", "f", "F", "x", "X", "g", " ", "\n", "_"]
    for text in cases + list(_texts(alphabet, 30000, 22, 6)) + ["0x" + t for t in _texts(alphabet, 10000, 18, 7)]:
        assert krbd._is_mask_text(text) == bool(regex.match(text)), repr(text)
        assert krbd.parse_mask(text) == (None if not regex.match(text.strip()) else krbd.parse_mask(text.strip()))


def test_config_mask_and_digit_tests_equal_their_regexes():
    mask = re.compile(r"^(?:0[xX]([0-9a-fA-F]+)|(\d+))$")
    digits = re.compile(r"^[0-9]+$")
    for text in _texts(["0", "1", "9", "a", "F", "x", "X", "g", "\n", " ", "\u0663", "\u00b2"], 60000, 7, 8):
        match = mask.match(text)
        assert config._mask_groups(text) == (match.groups() if match else None), repr(text)
        assert config._all_digits(text) == bool(digits.match(text)), repr(text)


def test_expand_meta_equals_the_metavariable_substitution():
    regex = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
    variables = {"a": "A", "ab": "AB", "b": "", "_": "U", "a1": "Q", "cluster": "ceph", "name": "client.admin"}

    def reference(text):
        def one(match):
            value = variables.get(match.group(1) or match.group(2))
            return match.group(0) if value is None else value
        return regex.sub(one, text)
    cases = ["/etc/ceph/$cluster.$name.keyring", "${cluster}", "${cluster", "$", "$$a", "${}", "$1a", "${a}b",
             "$ab$b", "x$", "$\u00e9"]
    for text in cases + list(_texts(["$", "{", "}", "a", "b", "_", "1", "x", "-", "\u00e9", " "], 60000, 10, 9)):
        assert config.expand_meta(text, variables) == reference(text), repr(text)


def test_keyring_path_split_equals_the_split_regex():
    regex = re.compile(r"[;,=\s]+")
    for text in list(_texts(["a", ";", ",", "=", " ", "\t", "\u3000", "/b", "\x1c"], 20000, 10, 10)) + [None, ""]:
        assert config._split_paths(text) == [p for p in regex.split(text or "") if p], repr(text)


def test_control_character_tests_equal_their_regexes():
    other = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
    control = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
    alphabet = ["a", " ", "\n", "\t", "\x1b", "\x7f", "\x9f", "\xa0", "\u2028", "\u2029", "\udc80", "\u200b",
                "\ufeff", "\U0001f600", "\x00"]
    for text in _texts(alphabet, 30000, 8, 11):
        assert textout.has_other_control(text) == bool(other.search(text)), repr(text)
        assert safeio.one_line(text) == control.sub(safeio._escape, text), repr(text)


def test_redaction_prefilter_keeps_every_key(tmp_path):
    # a real cephx key shape (type 1, created, 16-byte secret), as ceph-authtool prints it
    import base64
    import struct
    key = base64.b64encode(struct.pack("<HIIH", 1, 1700000000, 0, 16) + bytes(range(16))).decode()
    assert key.startswith("AQ") and safeio.is_cephx_key(key)
    for text in [key, "x" + key, "/etc/ceph/" + key + "/k", "\\n" + key, "no key here", "AQ", "Ag" * 30]:
        redacted = safeio.redact(text)
        assert key not in redacted
        if key in text:
            assert safeio.REDACTED in redacted


# --- the JSON writer and the text wrapper ---------------------------------------------------

def _random_value(rng, depth=0):
    kind = rng.randrange(0, 10 if depth < 4 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-10 ** 20, 10 ** 20)
    if kind == 3:
        return rng.choice([0.1, -0.0, 1e300, float("nan"), float("inf"), -float("inf"), 3.0, rng.random()])
    if kind in (4, 5, 6):
        return "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0, 0x110000), 0x22, 0x5c, 0x2028]))
                       for _ in range(rng.randrange(0, 8)))
    if kind == 7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 8:
        return tuple(_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))
    return {"".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 5))): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(0, 4))}


def test_jsonout_equals_json_dumps_on_random_values():
    rng = random.Random(12)
    for _ in range(20000):
        value = _random_value(rng)
        assert _jsonout.dumps(value, indent=2) == json.dumps(value, indent=2, sort_keys=True), value
        assert _jsonout.dumps(value) == json.dumps(value, sort_keys=True), value
    for value in [{1: 2, 2.5: 3, -1: 1}, {True: 1}, {None: 2}, {"a": []}, {"a": {}}, [[]], [{}], {}, []]:
        assert _jsonout.dumps(value, indent=2) == json.dumps(value, indent=2, sort_keys=True)


@pytest.mark.parametrize("bad", [{"a": object()}, {(1, 2): 1}, b"bytes", {1: 1, "a": 2}, {"a": {1, 2}}])
def test_jsonout_refuses_what_json_refuses(bad):
    with pytest.raises(TypeError):
        json.dumps(bad, indent=2, sort_keys=True)
    with pytest.raises(TypeError):
        _jsonout.dumps(bad, indent=2)


def test_report_json_equals_json_dumps(installed):
    from librbd_probe import render, scan
    from librbd_probe.model import to_plain
    for report in (scan.scan(runtime=False), scan.scan(librbd=installed["librbd"])):
        plain = to_plain(report.to_dict())
        assert render.to_json(report.to_dict()) == json.dumps(plain, indent=2, sort_keys=True) + "\n"


def test_wrap_equals_textwrap():
    alphabet = ["a", "bb", "ccc ", " ", "  ", "\t", "\n", "\u00a0", "-", "x" * 12, "\r", "\u00e9", "\x0b"]
    rng = random.Random(13)
    for text in _texts(alphabet, 30000, 14, 14):
        width = rng.randrange(1, 21)
        first = rng.choice(["", "  ", ">> ", "x" * 25])
        rest = rng.choice(["", " ", "    "])
        assert textout.wrap(text, width, first, rest) == textwrap.wrap(
            text, width=width, initial_indent=first, subsequent_indent=rest,
            break_on_hyphens=False, break_long_words=False), (text, width, first, rest)
    with pytest.raises(ValueError):
        textout.wrap("a", 0)


# --- records against collections.namedtuple -------------------------------------------------

_SPECS = [("A", "a b c", ()), ("B", "a b c", (1, 2)), ("C", "a", (None,)), ("D", "", ()), ("E", "x y", (5,))]
_CALLS = [((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3), {}), ((1, 2, 3, 4), {}), ((), {"a": 1}),
          ((), {"a": 1, "b": 2, "c": 3}), ((1,), {"a": 2}), ((), {"zz": 1}), ((1,), {"c": 9}), ((), {"b": 1}),
          ((), {"x": 1}), ((), {"y": 2}), ((), {"x": 1, "y": 2})]


@pytest.mark.parametrize("typename, fields, defaults", _SPECS, ids=[s[0] for s in _SPECS])
def test_record_behaves_as_namedtuple(typename, fields, defaults):
    reference = collections.namedtuple(typename, fields)
    reference.__new__.__defaults__ = tuple(defaults)
    ours = model.record(typename, fields, defaults)
    assert ours._fields == reference._fields
    assert ours._field_defaults == dict(zip(reference._fields[len(reference._fields) - len(defaults):], defaults))
    for args, kwargs in _CALLS:
        try:
            want = reference(*args, **kwargs)
        except TypeError:
            with pytest.raises(TypeError):
                ours(*args, **kwargs)
            continue
        got = ours(*args, **kwargs)
        assert tuple(got) == tuple(want) and repr(got) == repr(want) and got._asdict() == want._asdict()
        assert got == want and hash(got) == hash(want) and got.__getnewargs__() == want.__getnewargs__()
        for name in reference._fields:
            assert getattr(got, name) == getattr(want, name)
        if reference._fields:
            first = reference._fields[0]
            assert tuple(got._replace(**{first: "r"})) == tuple(want._replace(**{first: "r"}))
        with pytest.raises((ValueError, TypeError)):       # namedtuple: TypeError since 3.13
            want._replace(nope=1)
        with pytest.raises(ValueError):
            got._replace(nope=1)
        assert tuple(ours._make(list(got))) == tuple(reference._make(list(want)))
        with pytest.raises(TypeError):
            reference._make(list(want) + [0])
        with pytest.raises(TypeError):
            ours._make(list(got) + [0])
        with pytest.raises(AttributeError):
            got.unknown = 1


def test_frozen_record_freezes_on_every_path():
    Frozen = model.record("Frozen", "a b", ({},), frozen=("b",))
    made = [Frozen(1, {"k": [1]}), Frozen(a=1, b={"k": [1]}), Frozen._make([1, {"k": [1]}]),
            Frozen(1, {})._replace(b={"k": [1]})]
    for item in made:
        assert item.b["k"] == (1,)
        with pytest.raises(TypeError):
            item.b["k"] = 2
    assert Frozen(1).b == {}


def test_record_rejects_a_field_name_it_cannot_bind():
    for fields in (["ok", "not ok"], ["ok", "_private"], ["ok", "9"]):
        with pytest.raises(ValueError):          # when the class is made, as namedtuple
            model.record("Bad", fields, ("d",))


# every way a call can bind or fail to: positions, keywords, defaults, each wrong in turn
_BIND_SPECS = [("F", "a b c d", (3, 4)), ("G", "a", ()), ("H", "a b", (None, None)), ("I", "", ())]
_BIND_CALLS = [((), {}), ((1,), {}), ((1, 2), {}), ((1, 2, 3, 4, 5), {}), ((1, 2), {"d": 0}),
               ((1,), {"b": 2}), ((1,), {"b": 2, "c": 3, "d": 4}), ((), {"a": 1, "b": 2}),
               ((1,), {"a": 1}), ((1, 2), {"b": 3}), ((1, 2), {"e": 5}), ((), {"c": 3}),
               ((), {"a": 1, "c": 3}), ((1, 2, 3), {"d": 4}), ((1, 2, 3, 4), {"a": 0}), ((), {"_d2": 1})]


@pytest.mark.parametrize("typename, fields, defaults", _BIND_SPECS, ids=[s[0] for s in _BIND_SPECS])
def test_record_binds_and_refuses_arguments_as_python_does(typename, fields, defaults):
    """The binding done by position (no compiled function) gives Python's values; every call
    Python refuses is refused with Python's own TypeError text."""
    reference = collections.namedtuple(typename, fields)
    reference.__new__.__defaults__ = tuple(defaults)
    names = fields.split()
    params = names[:len(names) - len(defaults)] + ["{}={!r}".format(n, d) for n, d in zip(names[len(names) - len(defaults):], defaults)]
    namespace = {}
    exec("def __new__({}): pass".format(", ".join(params)), namespace)     # Python's binding, for its words
    python = namespace["__new__"]
    ours = model.record(typename, fields, defaults)
    frozen = model.record(typename, fields, defaults, frozen=tuple(names[:1]))
    for args, kwargs in _BIND_CALLS:
        try:
            want = tuple(reference(*args, **kwargs))
        except TypeError:
            with pytest.raises(TypeError) as exc:
                python(*args, **kwargs)
            exc = exc.value
            for cls in (ours, frozen):
                with pytest.raises(TypeError) as raised:
                    cls(*args, **kwargs)
                assert str(raised.value).split("() ", 1)[1] == str(exc).split("() ", 1)[1], (args, kwargs)
            continue
        assert tuple(ours(*args, **kwargs)) == want, (args, kwargs)
        assert tuple(frozen(*args, **kwargs)) == want, (args, kwargs)


# --- the lazy pattern and memo --------------------------------------------------------------

def test_lazy_pattern_compiles_on_first_use_only():
    pattern = _lazy.Pattern(r"(a+)(b)?", re.I)
    assert "_compiled" not in pattern.__dict__
    assert pattern.match("AAb").groups() == ("AA", "b")
    assert pattern.compiled is pattern.__dict__["_compiled"] and pattern.flags & re.I
    assert pattern.sub("x", "aab-a") == "x-x" and pattern.split("1a2") == ["1", "a", None, "2"]
    with pytest.raises(AttributeError):
        pattern.nope


def test_memo_caches_and_clears():
    calls = []

    @_lazy.memo
    def square(x):
        calls.append(x)
        return x * x
    assert square(3) == 9 and square(3) == 9 and calls == [3]
    square.cache_clear()
    assert square(3) == 9 and calls == [3, 3]
    bounded = _lazy.memo(maxsize=2)(lambda x: calls.append(x) or x)
    for x in (1, 2, 3, 1):
        bounded(x)
    assert calls[-4:] == [1, 2, 3, 1]            # forgotten when full: recomputed, never wrong


def test_cephx_key_prefilter_keeps_the_decoding_verdict():
    """is_cephx_key answers False before decoding for a token that cannot be a key (shorter than
    a key or not starting with type 1/2's "AQ"/"Ag"): the same verdict as decoding every token."""
    import base64
    import binascii
    import struct

    def decoded(token):
        try:
            raw = base64.b64decode((token + "=" * (-len(token) % 4)).encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return False
        if len(raw) < 28:
            return False
        return struct.unpack_from("<H", raw, 0)[0] in (1, 2) and struct.unpack_from("<H", raw, 10)[0] >= 16 \
            and 12 + struct.unpack_from("<H", raw, 10)[0] == len(raw)
    rng = random.Random(17)
    tokens = []
    for _ in range(20000):
        size = rng.randrange(12, 65)
        length = rng.choice([16, size, 32])
        raw = struct.pack("<HIIH", rng.choice([0, 1, 2, 3, 0x101]), rng.getrandbits(32), rng.getrandbits(32), length) \
            + bytes(rng.getrandbits(8) for _ in range(size))
        token = base64.b64encode(raw).decode()
        token = token.rstrip("=") if rng.random() < 0.3 else token
        tokens.append(token[:rng.randrange(0, len(token) + 1)] if rng.random() < 0.2 else token)
    assert sum(map(decoded, tokens)) > 1000                   # real keys among them
    for token in tokens + ["", "AQ", "Ag==", "é" * 40, "AQ" + "é" * 40]:
        assert safeio.is_cephx_key(token) == decoded(token), token


def test_a_record_class_is_one_class_with_its_body_over_the_record():
    """class X(metaclass=Record, ...) behaves as class X(record("X", ...)) with the same body,
    made as one plain tuple class."""
    class Rec(metaclass=model.Record, fields="a b c", defaults=(7,), frozen=("b",), lines=("c",)):
        """A record."""
        __slots__ = ()

        def _asdict(self):
            return {"overridden": True}

        @property
        def total(self):
            return self.a + 1

    # the same body over a record class, as the package wrote its records before
    Sub = type("Sub", (model.record("Rec", "a b c", (7,), frozen=("b",), lines=("c",)),),
               {name: Rec.__dict__[name] for name in ("__doc__", "__slots__", "_asdict", "total")})
    assert type(Rec) is type and Rec.__mro__ == (Rec, tuple, object)
    assert Rec.__doc__ == Sub.__doc__ == "A record." and Rec.__module__ == __name__ and Rec.__qualname__.endswith("Rec")
    for args, kwargs in (((1, {"k": [1]}), {}), ((1,), {"b": [2], "c": "x\ny"}), ((), {"a": 1, "b": {}})):
        got, want = Rec(*args, **kwargs), Sub(*args, **kwargs)
        assert tuple(got) == tuple(want) and repr(got) == repr(want).replace("Sub(", "Rec(", 1)
        assert got._asdict() == {"overridden": True} and got.total == want.total
        assert tuple(got._replace(b=[3])) == tuple(want._replace(b=[3])) and tuple(Rec._make(got)) == tuple(got)
    assert Rec(1, [1], "a\nb").c == Sub(1, [1], "a\nb").c != "a\nb"          # lines= applies
    assert Rec(1, [1], "c").b == (1,) and Rec(1, {"k": 1}).b == Sub(1, {"k": 1}).b    # frozen= applies
    with pytest.raises(TypeError):
        Rec(1, {"k": 1}).b["k"] = 2
    assert Rec._fields == ("a", "b", "c") and Rec._field_defaults == {"c": 7}
    with pytest.raises(TypeError):
        Rec()

    class NoDoc(metaclass=model.Record, fields="x"):
        __slots__ = ()
    assert NoDoc.__doc__ is None and NoDoc(1).x == 1
    with pytest.raises(TypeError):
        class WithBase(tuple, metaclass=model.Record, fields="x"):
            pass


def test_every_package_record_class_is_a_one_class_record():
    """The package's record classes are made by Record: tuples with no base in between."""
    import importlib
    import pkgutil
    import librbd_probe
    seen = 0
    for info in pkgutil.walk_packages(librbd_probe.__path__, "librbd_probe."):
        if ".children._" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields") \
                    and value.__module__ == module.__name__:
                assert value.__mro__ == (value, tuple, object), value
                seen += 1
    assert seen >= 40
