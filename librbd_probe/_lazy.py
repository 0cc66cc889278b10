"""What the scan's modules define at import but a run may never use, made on first use.

Importing ``re`` (with enum, and the compiler for each pattern) is about 6 ms of a 25 ms static
scan on this project's test machine, and a plain scan of a host without a ceph.conf matches no
regular expression at all (bench/bench_startup.py; tests/test_startup.py checks which modules a
plain scan imports).  ``Pattern`` stands for ``re.compile(pattern, flags)``: the first use of a
method or attribute compiles it, and from then on the compiled pattern's bound methods are
attributes of the object itself (no extra call per match).

``memo`` is ``functools.lru_cache(maxsize=None)`` for the knowledge layer's functions without
importing functools (which imports collections): the cached function, with ``cache_clear()``.
"""


class Pattern(object):
    """``re.compile(pattern, flags)``, compiled on first use (see the module's text)."""

    _METHODS = ("match", "fullmatch", "search", "finditer", "findall", "sub", "subn", "split",
                "pattern", "flags", "groups", "groupindex")

    def __init__(self, pattern, flags=0):
        self.__dict__["_source"] = (pattern, flags)

    @property
    def compiled(self):
        """The ``re.Pattern`` itself."""
        self._compile()
        return self.__dict__["_compiled"]

    def _compile(self):
        if "_compiled" not in self.__dict__:
            import re
            compiled = re.compile(*self.__dict__["_source"])
            for name in self._METHODS:
                self.__dict__[name] = getattr(compiled, name)
            self.__dict__["_compiled"] = compiled

    def __getattr__(self, name):
        # only called for names not yet in __dict__: the methods before the first compile
        if name not in self._METHODS:
            raise AttributeError(name)
        self._compile()
        return self.__dict__[name]

    def __repr__(self):
        return "Pattern({!r}, {!r})".format(*self.__dict__["_source"])


def memo(function=None, maxsize=None):
    """``functools.lru_cache(maxsize=None)(function)`` for positional, hashable arguments;
    ``memo(maxsize=N)`` forgets everything when N results are kept (a bound, not an LRU)."""
    if function is None:
        return lambda f: memo(f, maxsize)
    cache = {}

    def cached(*args):
        try:
            return cache[args]
        except KeyError:
            if maxsize is not None and len(cache) >= maxsize:
                cache.clear()
            value = cache[args] = function(*args)
            return value

    cached.cache_clear = cache.clear
    cached.__wrapped__ = function
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(cached, attr, getattr(function, attr))
    return cached
