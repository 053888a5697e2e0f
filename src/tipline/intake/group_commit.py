"""Group commit: concurrent requests that each store one report share one transaction and one disk flush.

A door answers only once its report is durably committed, and on SQLite a durable commit is a disk
flush (``synchronous=FULL``): milliseconds on an ordinary disk, which capped a door at one commit per
flush however many requests waited. Here the requests that arrive while a commit is in flight are stored
together by the next one, so one flush acknowledges all of them and the ORM's per-statement work is done
once per batch (``bench/bench_intake.py``). PostgreSQL gains the same: one round trip and one commit for
the batch.

Leader/follower, without a thread of its own: the first request finds no commit in flight and leads,
storing what is queued (itself first); requests arriving meanwhile queue and wait; when the leader's batch
is committed it wakes them with their results and hands the lead to the first one still queued. So there
is nothing to start or stop, it works the same in every server process, and a request never waits for
more than the batch in flight and its own. Nothing is acknowledged before its batch's commit returned.

Written by hand: this is a dozen lines of locking around the caller's own transaction, which no queue or
task library offers without a broker or an event loop of its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("item", "done", "lead", "result", "error")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # woken to lead the next batch, not with a result
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Run ``store(items)`` for the items of concurrent callers, one batch at a time.

    ``store`` gets a batch and returns one result or one exception per item, in order (an item's own
    failure must not fail the others); if it raises instead, every caller of the batch gets that error.
    """

    def __init__(self, store: Callable[[Sequence[T]], Sequence[R | BaseException]], *, max_batch: int = 100) -> None:
        self._store = store
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Slot[T, R]] = deque()
        self._leading = False
        self.batches = 0  # how many batches were stored (for status and tests)
        self.items = 0

    @property
    def waiting(self) -> int:
        """Callers queued behind the batch in flight."""
        return len(self._queue)

    @property
    def leading(self) -> bool:
        """A batch is being stored now."""
        return self._leading

    def run(self, item: T) -> R:
        """Store ``item`` with whatever else is waiting; its result once its batch is committed."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.done.wait()
            if slot.lead:  # the previous leader handed over: this slot heads the queue
                slot.done.clear()
                lead = True
        if lead:
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        try:
            try:
                results = list(self._store([s.item for s in batch]))
                if len(results) != len(batch):
                    raise RuntimeError(f"group commit: {len(results)} results for {len(batch)} items")
            except BaseException as e:  # noqa: BLE001 - handed to every caller of the batch, raised there
                results = [e] * len(batch)
            for s, r in zip(batch, results, strict=True):
                if isinstance(r, BaseException):
                    s.error = r
                else:
                    s.result = r
        finally:
            with self._lock:
                self.batches += 1
                self.items += len(batch)
                nxt = self._queue[0] if self._queue else None
                self._leading = nxt is not None
                if nxt is not None:
                    nxt.lead = True
            for s in batch:
                s.done.set()
            if nxt is not None:
                nxt.done.set()
