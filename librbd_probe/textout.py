"""Lines of text output (report, Markdown, diff, fleet, symbols file) joined safely.

Every renderer builds a list of lines and joins them here: control characters inside a line
(a newline or ESC in a path, a file name, a symbol name or a message read from a file) are
escaped with ``safeio.one_line`` (tabs kept), so a value can neither start a line of its own
in the output nor drive the terminal.  JSON needs nothing: ``json.dumps`` escapes them.
"""
from .safeio import needs_escape, one_line


def line(text):
    """One output line: control characters escaped except tab."""
    text = str(text)
    if not needs_escape(text, keep="\t"):
        return text
    return "\t".join(one_line(part) for part in text.split("\t"))


def join_lines(lines):
    """``lines`` as text: each line escaped, newline-separated, with a final newline."""
    return "\n".join(line(text) for text in lines) + "\n"
