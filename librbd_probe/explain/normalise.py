"""Repr'd tracebacks unfolded into real lines (pure).

Cinder logs a traceback as ``[u'Traceback ...\\n', u'  File ...\\n', ...]`` on one line; that
line is unfolded so the patterns see the real messages.  Only lines holding an escaped
newline or quote are touched.
"""
import re

_ESCAPES = (("\\n", "\n"), ("\\t", "\t"), ("\\'", "'"), ('\\"', '"'), ("\\\\", "\\"))
_REPR_JOIN = re.compile(r"""(?:\\n)?['"],\s{0,8}u?['"]""")


def unfold(line):
    """The real lines one log line stands for (usually just ``[line]``)."""
    if "\\n" in line or "\\'" in line:
        line = _REPR_JOIN.sub("\n", line)
        for old, new in _ESCAPES:
            line = line.replace(old, new)
        return line.split("\n")
    return [line]


def normalise(text):
    """(normalised text, line map): ``line_of[i]`` is the 1-based original line of line i."""
    out_lines = []
    line_of = []
    for number, line in enumerate(text.splitlines(), 1):
        for part in unfold(line):
            out_lines.append(part)
            line_of.append(number)
    return "\n".join(out_lines), line_of
