"""Lines of text output (report, Markdown, diff, fleet, symbols file) joined safely.

Every renderer builds a list of lines and joins them here: control characters inside a line
(a newline or ESC in a path, a file name, a symbol name or a message read from a file) are
escaped with ``safeio.one_line`` (tabs kept), so a value can neither start a line of its own
in the output nor drive the terminal.  JSON needs nothing: ``json.dumps`` escapes them.
"""
from ._lazy import Pattern
from .safeio import one_line

#: what safeio.one_line escapes, less newline and tab (one search, no Python loop per line)
OTHER_CONTROL = Pattern("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def has_other_control(text):
    """``OTHER_CONTROL.search(text)``, as a bool: every character it matches is one that
    ``str.isprintable`` rejects, so printable text (less newlines and tabs) needs no regex."""
    if text.replace("\n", "").replace("\t", "").isprintable():
        return False
    return OTHER_CONTROL.search(text) is not None


def line(text):
    """One output line: control characters escaped except tab."""
    text = str(text)
    if "\n" not in text and not has_other_control(text):
        return text
    return "\t".join(one_line(part) for part in text.split("\t"))


def join_lines(lines):
    """``lines`` as text: each line escaped, newline-separated, with a final newline."""
    lines = [text if isinstance(text, str) else str(text) for text in lines]
    text = "\n".join(lines)
    if text.count("\n") == max(len(lines) - 1, 0) and not has_other_control(text):
        return text + "\n"                 # no line holds a newline or another control character
    return "\n".join(line(text) for text in lines) + "\n"


_WRAP_SPACE = {ord(c): " " for c in "\t\n\x0b\x0c\r "}


def wrap(text, width, initial_indent="", subsequent_indent=""):
    """``textwrap.wrap(text, width, initial_indent=..., subsequent_indent=...,
    break_on_hyphens=False, break_long_words=False)``, without textwrap (which imports re for
    its word splitting): the same chunks and the same greedy filling (textwrap.TextWrapper's
    _split and _wrap_chunks with those options; tests/test_startup.py compares the two)."""
    if width <= 0:
        raise ValueError("invalid width {!r} (must be > 0)".format(width))
    text = text.expandtabs(8).translate(_WRAP_SPACE)
    chunks = []
    for index, word in enumerate(text.split(" ")):
        if index:
            if chunks and chunks[-1][:1] == " ":
                chunks[-1] += " "
            else:
                chunks.append(" ")
        if word:
            chunks.append(word)
    chunks.reverse()
    lines = []
    while chunks:
        indent = subsequent_indent if lines else initial_indent
        room = width - len(indent)
        if chunks[-1].strip() == "" and lines:
            del chunks[-1]
        line_chunks = []
        length = 0
        while chunks and length + len(chunks[-1]) <= room:
            length += len(chunks[-1])
            line_chunks.append(chunks.pop())
        if chunks and len(chunks[-1]) > room and not line_chunks:
            line_chunks.append(chunks.pop())      # a long word is never broken: a line of its own
        if line_chunks and line_chunks[-1].strip() == "":
            del line_chunks[-1]
        if line_chunks:
            lines.append(indent + "".join(line_chunks))
    return lines
