"""The one table of ctypes signatures and ABI constants for librbd/librados entry points.

Used only inside the child interpreters (``_probe_child``, ``_live_child``), where the
bootstrap makes it the top-level module ``_ctypes_api`` from the source the parent sent
(see ``librbd_probe/children/__init__.py``): the package itself never calls into a Ceph
library in-process.

Types are written as strings so that this table stays importable without ctypes doing
anything; ``bind()`` turns them into real argtypes/restype.  Signatures and constants follow
src/include/rbd/librbd.h and src/include/rados/librados.h (upstream Ceph); tests/test_probe.py
checks both against the headers of the Debian librbd-dev/librados-dev builds of the corpus.
"""
import ctypes

_TYPES = {
    "int": ctypes.c_int,
    "uint64": ctypes.c_uint64,
    "uint64*": ctypes.POINTER(ctypes.c_uint64),
    "int*": ctypes.POINTER(ctypes.c_int),
    "size_t": ctypes.c_size_t,
    "size_t*": ctypes.POINTER(ctypes.c_size_t),
    "char*": ctypes.c_char_p,
    "buf": ctypes.c_void_p,          # caller-owned output buffer (create_string_buffer)
    "void*": ctypes.c_void_p,
    "void**": ctypes.POINTER(ctypes.c_void_p),
    "void": None,
    "const char*": ctypes.c_char_p,
    "char**": ctypes.POINTER(ctypes.c_char_p),
    "char**out": ctypes.POINTER(ctypes.c_void_p),   # library-allocated, freed with rados_buffer_free
    "uint8*": ctypes.POINTER(ctypes.c_uint8),
}

# name -> (restype, (argtypes...)).  Only what the children call.
SIGNATURES = {
    # --- version and identification ---
    "rbd_version": ("void", ("int*", "int*", "int*")),
    "rados_version": ("void", ("int*", "int*", "int*")),
    # libceph-common's exported C++ helpers (src/common/version.cc): const char *f(void)
    "_Z19ceph_version_to_strv": ("const char*", ()),
    "_Z19ceph_release_to_strv": ("const char*", ()),
    # --- offline configuration (never connects) ---
    "rados_create": ("int", ("void**", "const char*")),
    "rados_create2": ("int", ("void**", "const char*", "const char*", "uint64")),
    "rados_conf_read_file": ("int", ("void*", "const char*")),
    "rados_conf_parse_env": ("int", ("void*", "const char*")),
    "rados_conf_get": ("int", ("void*", "const char*", "buf", "size_t")),
    "rados_conf_set": ("int", ("void*", "const char*", "const char*")),
    "rados_shutdown": ("void", ("void*",)),
    # --- feature names (octopus+): int rbd_features_to_string(uint64_t, char *, size_t *) ---
    "rbd_features_to_string": ("int", ("uint64", "buf", "size_t*")),
    "rbd_features_from_string": ("int", ("const char*", "uint64*")),
    # --- live mode: connect, ask the monitors, create / inspect / remove scratch images ---
    "rados_connect": ("int", ("void*",)),
    "rados_mon_command": ("int", ("void*", "char**", "size_t", "const char*", "size_t",
                                  "char**out", "size_t*", "char**out", "size_t*")),
    "rados_mon_command_target": ("int", ("void*", "const char*", "char**", "size_t", "const char*", "size_t",
                                         "char**out", "size_t*", "char**out", "size_t*")),
    "rados_buffer_free": ("void", ("void*",)),
    "rados_ioctx_create": ("int", ("void*", "const char*", "void**")),
    "rados_ioctx_destroy": ("void", ("void*",)),
    "rados_ioctx_set_namespace": ("void", ("void*", "const char*")),
    "rbd_create": ("int", ("void*", "const char*", "uint64", "int*")),
    "rbd_create2": ("int", ("void*", "const char*", "uint64", "uint64", "int*")),
    "rbd_create3": ("int", ("void*", "const char*", "uint64", "uint64", "int*", "uint64", "uint64")),
    "rbd_create4": ("int", ("void*", "const char*", "uint64", "void*")),
    "rbd_image_options_create": ("void", ("void**",)),
    "rbd_image_options_destroy": ("void", ("void*",)),
    "rbd_image_options_set_uint64": ("int", ("void*", "int", "uint64")),
    "rbd_image_options_set_string": ("int", ("void*", "int", "const char*")),
    "rbd_open": ("int", ("void*", "const char*", "void**", "const char*")),
    "rbd_close": ("int", ("void*",)),
    "rbd_get_features": ("int", ("void*", "uint64*")),
    "rbd_get_old_format": ("int", ("void*", "uint8*")),
    "rbd_get_stripe_unit": ("int", ("void*", "uint64*")),
    "rbd_get_stripe_count": ("int", ("void*", "uint64*")),
    "rbd_list": ("int", ("void*", "buf", "size_t*")),
    "rbd_remove": ("int", ("void*", "const char*")),
}


# ABI constants the children pass to the libraries: enum rbd_image_option_t of
# src/include/rbd/librbd.h (checked by tests/test_probe.py against the librbd.h of the
# Debian 14.2.21, 16.2.15, 18.2.7 and 20.2.4 builds; older releases unverified).
CONSTANTS = {
    "RBD_IMAGE_OPTION_FORMAT": 0,
    "RBD_IMAGE_OPTION_FEATURES": 1,
    "RBD_IMAGE_OPTION_ORDER": 2,
    "RBD_IMAGE_OPTION_STRIPE_UNIT": 3,
    "RBD_IMAGE_OPTION_STRIPE_COUNT": 4,
    "RBD_IMAGE_OPTION_DATA_POOL": 10,
}


def bind(lib, name):
    """Return ``lib.<name>`` with argtypes/restype set from SIGNATURES.

    Raises AttributeError when the symbol is absent (the caller records that) and KeyError
    when a child tries to call something this table does not describe.
    """
    restype, argtypes = SIGNATURES[name]
    func = getattr(lib, name)
    func.restype = _TYPES[restype]
    func.argtypes = [_TYPES[a] for a in argtypes]
    return func
