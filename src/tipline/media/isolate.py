"""Run untrusted decoding (pictures, videos) in a child process with hard limits.

A few kilobytes of PNG or H.264 can ask a decoder for gigabytes (a 143 KB PNG of 7000 x 7000 pixels, a
159 KB video of 4096 x 4096 frames), and FFmpeg's libraries abort() on some damaged input. Everything that
decodes an uploaded file therefore runs here, not in the server:

* **One child per job**, forked from a multiprocessing *forkserver* that has the decoding libraries
  imported already (about 10 ms a job instead of the 100+ ms of a fresh interpreter). The forkserver is
  started once per server process, single-threaded, with ``OPENBLAS_NUM_THREADS=1`` so that a child's
  address space does not start with a thread pool's reservations.
* **Hard limits, set by the child on itself before it reads a byte of the file**: ``RLIMIT_AS`` (address
  space, ``memory_mb``: an allocation past it fails, a decoder that cannot handle that fails with it),
  ``RLIMIT_CPU`` (``cpu_seconds``: SIGXCPU, then SIGKILL a second later), ``RLIMIT_CORE`` 0 (a crash
  never writes the decoded picture to a core file). Processes the child starts (ffprobe) inherit them.
* **A wall-clock timeout** (``timeout_s``) after which the parent kills the child.
* **A concurrency limit**: at most ``concurrency`` children at once per server process; more callers wait
  their turn, so six bombs at once cost at most ``concurrency x memory_mb``.

Whatever goes wrong, the caller gets :class:`ChildFailed` with a sentence that names the limit that was hit
(and the setting that raises it), never a dead server. This is resource containment, not a security
sandbox: the child runs as the same user (no seccomp, no namespaces).

Don't: decode an uploaded file in the server process; share one child between two jobs (the CPU limit is
per process); raise the limits to make a test pass without saying why in the settings' documentation.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tipline.settings import Settings

__all__ = ["ChildFailed", "ProcessLimits", "run_limited"]

# imported by the forkserver before it forks any child (first: the environment for the BLAS library)
_PRELOAD = ["tipline.media._child_env", "tipline.media.hashing", "tipline.media.preview"]


@dataclass(frozen=True)
class ProcessLimits:
    """Hard limits of one decoding child (the ``media_child_*`` settings)."""

    memory_mb: int = 1024
    cpu_seconds: int = 120
    timeout_s: float = 120.0
    concurrency: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessLimits:
        return cls(
            memory_mb=settings.media_child_memory_mb,
            cpu_seconds=settings.media_child_cpu_seconds,
            timeout_s=settings.media_child_timeout_s,
            concurrency=settings.media_child_concurrency,
        )


class ChildFailed(Exception):
    """The child was stopped by a limit, crashed, or refused the input; ``str()`` says which, for people."""

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit  # "memory" | "cpu" | "timeout" | None (crash or refusal)


_lock = threading.Lock()
_start_lock = threading.Lock()
_semaphores: dict[int, threading.BoundedSemaphore] = {}
_ctx: Any = None


def _context() -> Any:
    global _ctx
    with _lock:
        if _ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _ctx = ctx
        return _ctx


def _semaphore(n: int) -> threading.BoundedSemaphore:
    with _lock:
        sem = _semaphores.get(n)
        if sem is None:
            sem = _semaphores[n] = threading.BoundedSemaphore(max(1, n))
        return sem


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Start a child without telling it the parent's main module.

    multiprocessing makes a forkserver child import the parent's ``__main__`` (by path or module name) so that
    pickled references to it resolve; our job functions live in ``tipline.media``, and a console script such
    as ``tipline`` (no ``if __name__ == "__main__"`` guard) would run the whole command again in the child.
    ``spawn.get_preparation_data`` reads ``__main__.__spec__`` and ``__file__`` while ``start()`` runs: they
    are hidden for that moment, under the lock (nothing else in the server reads them).
    """
    main = sys.modules.get("__main__")
    with _start_lock:
        if main is None:
            yield
            return
        had_file = "__file__" in main.__dict__
        file, spec = main.__dict__.get("__file__"), main.__dict__.get("__spec__")
        main.__dict__.pop("__file__", None)
        main.__spec__ = None
        try:
            yield
        finally:
            main.__spec__ = spec
            if had_file:
                main.__file__ = file


def _peak_kb() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(own, kids))


def _child_main(conn: Any, func: Callable[..., Any], args: tuple[Any, ...], limits: ProcessLimits) -> None:
    """In the child: limit ourselves, silence stderr (FFmpeg may name the temporary file), run, answer."""
    mem = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(1, int(limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        result = func(*args)
    except MemoryError:
        conn.send(("memory", None, _peak_kb()))
    else:
        conn.send(("ok", result, _peak_kb()))
    conn.close()


_SIGNAL_WORDS = {
    signal.SIGABRT: "aborted",
    signal.SIGSEGV: "crashed",
    signal.SIGBUS: "crashed",
    signal.SIGILL: "crashed",
    signal.SIGFPE: "crashed",
}

# the peak resident memory (KB) of the last children, for logs and the memory tests; bounded
last_peaks_kb: list[int] = []


def run_limited(func: Callable[..., Any], args: tuple[Any, ...], limits: ProcessLimits, *, what: str) -> Any:
    """``func(*args)`` in a fresh limited child; its return value (picklable) or :class:`ChildFailed`.

    ``func`` must be a module-level function. ``what`` names the work in messages ("the image").
    """
    ctx = _context()
    with _semaphore(limits.concurrency):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child_main, args=(writer, func, args, limits), daemon=True)
        started = time.monotonic()
        try:
            with _main_hidden():
                proc.start()
        except OSError as e:  # the child died while its input was being written to it
            reader.close()
            writer.close()
            raise ChildFailed(f"the decoding process for {what} could not be started ({e.strerror})") from None
        writer.close()
        answer: tuple[str, Any, int] | None = None
        timed_out = False
        try:
            if reader.poll(limits.timeout_s):
                try:
                    answer = reader.recv()
                except (EOFError, OSError):
                    answer = None
            else:
                timed_out = True
        finally:
            reader.close()
            if timed_out or answer is None:
                proc.join(max(0.0, min(2.0, limits.timeout_s - (time.monotonic() - started))))
            if proc.is_alive():
                proc.kill()
            proc.join()
            code = proc.exitcode
            proc.close()
    if answer is not None:
        status, value, peak = answer
        last_peaks_kb.append(peak)
        del last_peaks_kb[:-100]
        if status == "ok":
            return value
        raise ChildFailed(_memory_message(what, limits), limit="memory")
    if timed_out:
        raise ChildFailed(
            f"{what} took more than {limits.timeout_s:g} s to decode and hash and was stopped "
            "(setting TIPLINE_MEDIA_CHILD_TIMEOUT_S)",
            limit="timeout",
        )
    if code is not None and code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            raise ChildFailed(
                f"{what} needed more than {limits.cpu_seconds} s of processor time to decode and was stopped "
                "(setting TIPLINE_MEDIA_CHILD_CPU_SECONDS)",
                limit="cpu",
            )
        if sig == signal.SIGKILL:  # not our timeout: the hard CPU limit (a second past the soft one) or the kernel
            raise ChildFailed(
                f"the decoding process for {what} was killed: it used more than {limits.cpu_seconds} s of processor "
                "time (setting TIPLINE_MEDIA_CHILD_CPU_SECONDS), or the host ran out of memory",
                limit="cpu",
            )
        word = _SIGNAL_WORDS.get(signal.Signals(sig), "was killed")
        raise ChildFailed(
            f"the decoder {word} on {what} (often: it ran out of the "
            f"{limits.memory_mb} MB it may use, setting TIPLINE_MEDIA_CHILD_MEMORY_MB; or the file is damaged)",
            limit=None,
        )
    raise ChildFailed(f"the decoder stopped on {what} without an answer (exit status {code})")


def _memory_message(what: str, limits: ProcessLimits) -> str:
    return (
        f"{what} needs more than the {limits.memory_mb} MB of memory a decoding process may use "
        "(setting TIPLINE_MEDIA_CHILD_MEMORY_MB)"
    )
