"""How a kernel is compiled here: the compiler behind ccache, and the
environment that lets ccache hit across build directories and clones."""

import os
import shutil

from .core import BUILD, CACHE, TOP


def compiler_env(env=None):
    """The environment every kernel build here runs in.  ccache keeps its
    cache in .cache/ccache; paths below the project are made relative to
    the build directory (base_dir) and the build directory is left out
    of the hash (hash_dir), so that the same source built at the same
    place relative to its build directory hits in any clone."""
    env = dict(os.environ if env is None else env)
    env["CCACHE_DIR"] = os.path.join(CACHE, "ccache")
    base = os.path.commonpath([TOP, BUILD, CACHE])
    # ccache's manual warns against base_dir = / (VMFF_BUILD or
    # VMFF_CACHE far from the clone): leave the paths absolute then.
    if base != os.path.sep:
        env["CCACHE_BASEDIR"] = base
        env["CCACHE_NOHASHDIR"] = "1"
    return env


def compiler(cc="gcc"):
    """CC for make: CC behind ccache when ccache is there."""
    return f"ccache {cc}" if shutil.which("ccache") else cc
