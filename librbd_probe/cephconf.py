"""The ceph.conf grammar: lines read as librados 16.2.15's ConfUtils reads them.

src/common/ConfUtils.cc (IniGrammer, boost::spirit): comments # and ; anywhere outside quotes,
"..." and '...' with backslash escapes, a backslash before the end of a line continues it,
values trimmed, case-sensitive keys, and the library's verdict on the whole file (rejected, or
the boost assertion that aborts it).  Checked against the real library by tools/config_oracle.py
(knowledge/data/config_parsing.json).  config.py is the rest of the configuration logic and
imports this module only when a file is read (start-up: bench/bench_startup.py).
"""
from ._lazy import Pattern
from .config import _text, normalize_key

_HASH_SPLIT = Pattern(r"[#;]")
_EOL = Pattern(r"\r\n|\r|\n")
_SURROGATE = Pattern("[\ud800-\udfff]")
_BLANK = " \t"
_COMMENT = "#;"
_SPACE = " \t\n\v\f\r"
#: A value longer than this (continuation lines) is cut: memory stays bounded.
_MAX_VALUE = 64 << 10


class _Lines(object):
    """Physical lines (text, has_eol, number) of ceph.conf lines or bytes, split at \n, \r\n
    and a lone \r as boost::spirit's eol splits them; invalid UTF-8 noted, never raised."""

    def __init__(self, lines):
        self.source = iter(lines or ())
        import collections
        self.queue = collections.deque()
        self.number = 0
        self.bad_utf8 = None

    def _fill(self):
        while not self.queue:
            try:
                raw = next(self.source)
            except StopIteration:
                return False
            if isinstance(raw, (bytes, bytearray)):
                try:
                    text = bytes(raw).decode("utf-8")
                except UnicodeDecodeError:
                    text = bytes(raw).decode("utf-8", "replace")
                    if self.bad_utf8 is None:
                        self.bad_utf8 = self.number + 1
            else:
                text = _text(raw)
                if _SURROGATE.search(text):      # a str of undecodable bytes (surrogateescape)
                    text = _SURROGATE.sub("\ufffd", text)
                    if self.bad_utf8 is None:
                        self.bad_utf8 = self.number + 1
            body = text[:-1] if text.endswith("\n") else text
            if "\r" not in text and "\n" not in body:          # the common case: one line
                if text:
                    self.queue.append((body, len(body) != len(text)))
                continue
            parts = _EOL.split(text)
            eols = _EOL.findall(text)
            for index, part in enumerate(parts):
                has_eol = index < len(eols)
                if part or has_eol:
                    self.queue.append((part, has_eol))
        return True

    def next(self):
        if not self._fill():
            return None
        self.number += 1
        return self.queue.popleft()


class _Syntax(Exception):
    """A line librados rejects (the whole file is rejected) or aborts on."""

    def __init__(self, reason, aborts=False):
        Exception.__init__(self, reason)
        self.reason = reason
        self.aborts = aborts


def _check_ascii(char):
    # boost::spirit's standard::isblank asserts strict_ischar: a byte >= 0x80 where the grammar
    # asks "is it a blank?" (outside quoted values and comments) aborts librados (SIGABRT)
    if char and ord(char) > 127:
        raise _Syntax("a non-ASCII character ({!r}) outside quotes and comments".format(char), aborts=True)


class _Cursor(object):
    """One logical position in the file: a physical line, the column, continuation lines
    pulled in as the grammar's skipper (continue_marker: a backslash before the end of line)
    would skip them."""

    def __init__(self, lines, line):
        self.lines = lines
        self.text, self.eol = line
        self.pos = 0
        self.continued = 0

    def char(self):
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_eol(self):
        return self.pos >= len(self.text)

    def skip(self):
        """The skipper (continue_marker | comment) at this position; returns True when it
        consumed a comment (the rest of the line)."""
        while True:
            if self.text[self.pos:] == "\\" and self.eol:
                nxt = self.lines.next()
                if nxt is None:                  # the marker took the last end of line
                    self.text, self.eol, self.pos = "", False, 0
                    return False
                self.text, self.eol = nxt
                self.pos = 0
                self.continued += 1
                continue
            probe = self.pos
            while probe < len(self.text) and self.text[probe] in _BLANK:
                probe += 1
            _check_ascii(self.text[probe] if probe < len(self.text) else "")
            if probe < len(self.text) and self.text[probe] in _COMMENT:
                self.pos = len(self.text)
                return True
            return False

    def blanks(self):
        while self.char() and self.char() in _BLANK:
            self.pos += 1
        _check_ascii(self.char())


def _ascii_but(excluded):
    r"""A positive class of the ASCII characters not in ``excluded``: the same set as
    ``[^excluded\x80-\U0010ffff]``, but it compiles in microseconds where the negated form
    with that range costs milliseconds per pattern (re's charset optimiser), at every start
    (tests/test_hostile_config.py checks the two sets are equal over every code point)."""
    ranges, start = [], None
    for code in range(0x81):
        inside = code < 0x80 and chr(code) not in excluded
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append("\\x{:02x}-\\x{:02x}".format(start, code - 1) if code - 1 > start
                          else "\\x{:02x}".format(start))
            start = None
    return "[" + "".join(ranges) + "]"


_ESCAPE = Pattern(r"\\(.)")
_FAST_NAME = Pattern(r"(?:" + _ascii_but("]#;\\") + r"|\\.)+")
# runs without blanks, comment starts, backslashes before the end or non-ASCII: the skipper
# does nothing inside them
_WORD = r"(?:" + _ascii_but("=[ \t#;\\") + r"|\\.|\t(?![ \t]*[#;]))"
_KEY_CHUNK = Pattern(_WORD + r"+(?: +" + _WORD + r"+)*")
_NAME_CHUNK = Pattern(r"(?:" + _ascii_but("] \t#;\\") + r"|\\.|[ \t](?![ \t]*[#;]))+")
_FAST_KEY = Pattern(r"(?:" + _ascii_but("=[ #;\\") + r"|\\.)+(?: +(?:" + _ascii_but("=[ #;\\") + r"|\\.)+)*")


def _fast(pattern, cur, stops):
    """A run the per-character grammar would take as it is (no skipper effect inside: no
    comment, continuation or non-ASCII), when the character after it is one of ``stops``."""
    match = pattern.match(cur.text, cur.pos)
    if not match:
        return None
    after = cur.text[match.end():match.end() + 1]
    if after and after not in stops:
        return None
    return match


def _heading(cur):
    """``[name]`` then the end of the line: the name (escapes resolved, not trimmed)."""
    cur.pos += 1
    match = _fast(_FAST_NAME, cur, "]")
    if match and cur.text[match.end():match.end() + 1] == "]":
        cur.pos = match.end() + 1
        _line_end(cur)
        return _ESCAPE.sub(r"\1", match.group(0))
    name = []
    while True:
        cur.skip()
        chunk = _NAME_CHUNK.match(cur.text, cur.pos)
        if chunk:
            name.append(_ESCAPE.sub(r"\1", chunk.group(0)))
            cur.pos = chunk.end()
            continue
        char = cur.char()
        if char == "]" or not char or char in _COMMENT:
            break
        if char == "\\" and cur.pos + 1 < len(cur.text):
            name.append(cur.text[cur.pos + 1])
            cur.pos += 2
            continue
        name.append(char)
        cur.pos += 1
    if not name:
        raise _Syntax("expected a section name after '['")
    if cur.char() != "]":
        raise _Syntax("expected ']' to close the section name")
    cur.pos += 1
    _line_end(cur)
    return "".join(name)


def _line_end(cur):
    """+empty_line: blanks, an optional comment, then the end of the line."""
    cur.skip()
    cur.blanks()
    if not cur.at_eol():
        raise _Syntax("unexpected text after the value or section name")
    if not cur.eol:
        raise _Syntax("the last line has no end of line")


def _key_val(cur):
    """(key, value) of ``key = value``; None when the line is not a key=val (before '=')."""
    cur.blanks()
    start = cur.pos
    raw = []
    match = _FAST_KEY.match(cur.text, cur.pos)
    if match and cur.text[match.end():].lstrip(_BLANK)[:1] == "=":
        raw.append(match.group(0))
        cur.pos = match.end()
    else:
        match = None
    while not match:
        before = cur.continued
        cur.skip()
        if cur.continued != before and raw:
            raw.append("\\\n")            # raw[] keeps the continuation: the key is another one
        chunk = _KEY_CHUNK.match(cur.text, cur.pos)
        if chunk:                         # word characters the loop would take one by one
            raw.append(chunk.group(0))
            cur.pos = chunk.end()
            continue
        char = cur.char()
        if not char or char in "=[ " or char in _COMMENT:
            if char == " ":              # words separated by blanks: a blank run then a word
                probe = cur.pos
                while probe < len(cur.text) and cur.text[probe] in _BLANK:
                    probe += 1
                nxt = cur.text[probe] if probe < len(cur.text) else ""
                if nxt and nxt not in "=[" and nxt not in _COMMENT and raw:
                    raw.append(cur.text[cur.pos:probe])
                    cur.pos = probe
                    continue
            break
        if char == "\\" and cur.pos + 1 < len(cur.text):
            raw.append(cur.text[cur.pos:cur.pos + 2])
            cur.pos += 2
            continue
        raw.append(char)
        cur.pos += 1
    if not raw or cur.pos == start:
        return None
    cur.blanks()
    cur.skip()
    if cur.char() != "=":
        return None
    cur.pos += 1
    cur.blanks()
    value = _value(cur)
    return normalize_key("".join(raw)), value


_PLAIN = Pattern(r"(?:" + _ascii_but("\\#;") + r"|\\.)*")
_PLAIN_QUOTED = {q: Pattern(r"(?:[^\\#;" + q + r"]|\\.)*") for q in ("\"", "'")}


def _value(cur):
    """quoted_value | unquoted_value, then the end of the line (runs of plain characters are
    taken at once: the grammar's per-character skipper only matters at \\ # ; and non-ASCII)."""
    quote = cur.char()
    out = []
    size = 0
    if quote in ("\"", "'"):
        cur.pos += 1
        plain = _PLAIN_QUOTED[quote]
        while True:
            run = plain.match(cur.text, cur.pos).group(0)
            if run:
                if size < _MAX_VALUE:
                    out.append(_ESCAPE.sub(r"\1", run) if "\\" in run else run)
                    size += len(run)
                cur.pos += len(run)
            char = cur.char()
            if char == quote:
                cur.pos += 1
                break
            if char == "\\" and cur.pos + 1 < len(cur.text):
                out.append(cur.text[cur.pos + 1])
                cur.pos += 2
                continue
            if char == "\\":                      # before the end of the line: no continuation
                cur.pos += 1                      # inside quotes (lexeme): then no closing quote
                continue
            raise _Syntax("a quoted value without its closing quote (# and ; cannot be quoted)")
        _line_end(cur)
    else:
        while True:
            if cur.skip() or cur.at_eol():
                break
            run = _PLAIN.match(cur.text, cur.pos).group(0)
            if run:
                # blanks then # or ; end the value (the skipper takes them as a comment)
                if size < _MAX_VALUE:
                    out.append(_ESCAPE.sub(r"\1", run) if "\\" in run else run)
                    size += len(run)
                cur.pos += len(run)
                continue
            char = cur.char()
            if char == "\\" and cur.pos + 1 < len(cur.text):
                out.append(cur.text[cur.pos + 1])
                cur.pos += 2
                continue
            if char == "\\":
                if cur.eol:
                    continue                      # a continuation: skip() pulls the next line
                out.append(char)
                cur.pos += 1
                continue
            _check_ascii(char)
            break                                 # a comment start (skip() took blanks + it)
        if not cur.eol:
            raise _Syntax("the last line has no end of line")
    return "".join(out).strip(_SPACE).split("\x00", 1)[0]


def _skippable(cur, before_first_section):
    """True for a line the grammar skips: empty, a comment (the last one needs no end of
    line), a continuation; a line of blanks only once a section (or the lone key) began."""
    if cur.skip() or cur.at_eol():
        return True
    if cur.text[cur.pos:].strip(_BLANK) == "":
        if before_first_section:
            raise _Syntax("a line of blanks before the first section")
        if not cur.eol:
            raise _Syntax("the last line has no end of line")
        return True
    return False


def parse_ceph_conf(lines, keep=None, verdict=None):
    """{section: {normalized key: value}} from ceph.conf lines, read as librados 16.2.15's
    ConfUtils grammar reads them (src/common/ConfUtils.cc IniGrammer: comments # and ;
    anywhere outside quotes, "..." and '...' with backslash escapes, a backslash before the
    end of a line continues it, values trimmed, case-sensitive keys).

    ``keep``: the normalized keys to keep (None: all); other keys cost no memory, so a huge
    file streamed line by line stays at one line.  ``verdict`` (a dict) receives librados's
    verdict on the whole file: ``status`` "ok", "rejected" (rados_conf_read_file returns
    -EINVAL and applies nothing: invalid UTF-8 or a syntax error) or "aborts" (the boost
    assertion on a non-ASCII byte outside quotes and comments), ``line`` and ``reason``.
    Past an error the sections are read leniently (a bad line read as key = value, or
    skipped), for the tools that show where a value would come from.  Never raises.
    """
    sections = {"global": {}}
    current = None
    first_error = None
    lone = False                 # conf_file = key_val | (*eol >> *section): one key alone
    reader = _Lines(lines)
    seen = 0
    while True:
        line = reader.next()
        if line is None:
            break
        seen += 1
        number = reader.number
        text = line[0]
        if line[1] and (not text or text.lstrip(_BLANK)[:1] in ("#", ";")):
            continue                              # an empty line or a comment line
        cur = _Cursor(reader, line)
        try:
            if _skippable(cur, current is None and not lone):
                continue
            if cur.text.startswith("["):
                if lone:
                    raise _Syntax("a section after a key = value that came before any section")
                current = None
                current = _heading(cur)
                if keep is None:
                    sections.setdefault(current, {})
                continue
            pair = _key_val(cur)
            if pair is None:
                raise _Syntax("expected 'key = value' or a [section]")
            if current is None:
                if seen == 1:
                    lone = True
                else:
                    raise _Syntax("a key = value before the first section")
            key, value = pair
            if keep is None or key in keep:
                sections.setdefault(current or "global", {})[key] = value
        except _Syntax as exc:
            if first_error is None:
                first_error = (number, exc.reason, exc.aborts)
            text = line[0]
            if text.startswith("["):              # a bad heading: its name as far as it goes
                current = text[1:].split("]", 1)[0].strip()
                if keep is None:
                    sections.setdefault(current, {})
            elif "=" in text:
                key, value = text.split("=", 1)
                key = normalize_key(key)
                if key and (keep is None or key in keep):
                    value = _HASH_SPLIT.split(value, maxsplit=1)[0].strip(_SPACE).strip("\"'")
                    sections.setdefault(current or "global", {})[key] = value
    if verdict is not None:
        if reader.bad_utf8 is not None:         # check_utf8 runs before the grammar
            verdict.update(status="rejected", line=reader.bad_utf8, reason="invalid UTF-8")
        elif first_error is not None:
            verdict.update(status="aborts" if first_error[2] else "rejected", line=first_error[0],
                           reason=first_error[1])
        else:
            verdict.update(status="ok", line=None, reason=None)
    return sections
