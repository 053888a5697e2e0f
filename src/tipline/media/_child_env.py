"""Imported first by the media forkserver (``tipline.media.isolate``): one BLAS thread, then warm-up imports.

A BLAS thread pool reserves address space per core at import; under the children's ``RLIMIT_AS`` that
reservation would be counted against the picture being decoded (and on a 64-core host exceed it). Nothing
in media hashing uses BLAS. Not imported by the server process itself.
"""

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
# glibc's per-thread malloc arenas reserve 64 MB of address space each; FFmpeg's decoder threads would
# otherwise spend the memory limit on reservations. The variable reaches programs the children start
# (ffprobe); mallopt sets it for this process, and the children forked from it inherit the setting.
os.environ["MALLOC_ARENA_MAX"] = "2"
try:
    import ctypes

    ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
except (OSError, AttributeError):  # not glibc: nothing to tune
    pass

# Warm up what every child needs, once, here in the forkserver (a child is forked with it already loaded):
# Pillow's format plugins (Image.open imports all of them on first use: tens of milliseconds a child) and
# the PDQ binding. Not vpdq: FFmpeg's libraries would add 150 MB of address space to every picture's child
# (counted by RLIMIT_AS), and a video's decoding dwarfs the import.
import pdqhash  # noqa: E402, F401
from PIL import Image  # noqa: E402

Image.init()
