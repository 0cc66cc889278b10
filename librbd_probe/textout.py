"""Lines of text output (report, Markdown, diff, fleet, symbols file) joined safely.

Every renderer builds a list of lines and joins them here: control characters inside a line
(a newline or ESC in a path, a file name, a symbol name or a message read from a file) are
escaped with ``safeio.one_line`` (tabs kept), so a value can neither start a line of its own
in the output nor drive the terminal.  JSON needs nothing: ``json.dumps`` escapes them.
"""
import re

from .safeio import one_line

#: what safeio.one_line escapes, less newline and tab (one search, no Python loop per line)
OTHER_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def line(text):
    """One output line: control characters escaped except tab."""
    text = str(text)
    if "\n" not in text and not OTHER_CONTROL.search(text):
        return text
    return "\t".join(one_line(part) for part in text.split("\t"))


def join_lines(lines):
    """``lines`` as text: each line escaped, newline-separated, with a final newline."""
    lines = [text if isinstance(text, str) else str(text) for text in lines]
    text = "\n".join(lines)
    if text.count("\n") == max(len(lines) - 1, 0) and not OTHER_CONTROL.search(text):
        return text + "\n"                 # no line holds a newline or another control character
    return "\n".join(line(text) for text in lines) + "\n"
