"""The exception hierarchy of librbd_probe.

One base class; each subclass also inherits the builtin a caller would expect, so
``except ValueError`` keeps working for code that does not know this package.
Messages are one line and name the path they concern.
"""


class ProbeError(Exception):
    """Base class of every error this package raises on purpose."""


class ElfError(ProbeError, ValueError):
    """A file is not a readable ELF shared object (truncated, corrupt, not ELF)."""


class LocateError(ProbeError, LookupError):
    """A library path given by the user cannot be used (missing, a directory, ...)."""


class UsageError(ProbeError, ValueError):
    """Arguments that do not make sense together."""


class KnowledgeBaseError(ProbeError, ValueError):
    """The shipped knowledge base is malformed (a packaging bug, never a host problem)."""


class ChildError(ProbeError, RuntimeError):
    """The isolated child interpreter could not be started at all."""


class InputError(ProbeError, ValueError):
    """An input file cannot be read safely: not a regular file, over its size limit, unreadable."""


class RequirementError(ProbeError, RuntimeError):
    """A required capability of the host's librbd is not ``yes`` (``librbd_probe.require``);
    ``failures``: [(id, status, reason)].  Also ``librbd_probe.gate.RequirementError``."""

    def __init__(self, message, failures=()):
        ProbeError.__init__(self, message)
        self.failures = tuple(failures)
