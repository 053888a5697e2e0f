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

A request on the event loop (the JSON API) waits on a future instead of in a thread: a batch led for such
requests is stored by the group commit's own leader thread, and each loop is woken once per batch. Before,
each report took a thread hand-off to its sync endpoint, blocked that thread on an event, and woke it
again: the door measured x1.2-1.4 reports/s on SQLite without them (bench/RESULTS.md).

Written by hand: this is a dozen lines of locking around the caller's own transaction, which no queue or
task library offers without a broker or an event loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("item", "done", "lead", "result", "error", "future", "loop")

    def __init__(self, item: T, future: asyncio.Future[R] | None = None) -> None:
        self.item = item
        self.done = threading.Event()
        self.lead = False  # woken to lead the next batch, not with a result
        self.result: R | None = None
        self.error: BaseException | None = None
        # a caller on an event loop (run_async) waits on this future instead of in a thread
        self.future = future
        self.loop = future.get_loop() if future is not None else None


def _resolve(slots: list[_Slot[T, R]]) -> None:
    """On the callers' event loop: hand each coroutine its result (unless it stopped waiting)."""
    for s in slots:
        fut = s.future
        if fut is None or fut.done():
            continue  # cancelled (the client went away): its report is stored all the same
        if s.error is not None:
            fut.set_exception(s.error)
        else:
            fut.set_result(s.result)  # type: ignore[arg-type]


class GroupCommit(Generic[T, R]):
    """Run ``store(items)`` for the items of concurrent callers, one batch at a time.

    ``store`` gets a batch and returns one result or one exception per item, in order (an item's own
    failure must not fail the others); if it raises instead, every caller of the batch gets that error.
    Callers in threads use :meth:`run`; coroutines use :meth:`run_async`, which waits without a thread of
    its own (a batch of coroutines is stored by the group's one leader thread). Both kinds share the
    batches.
    """

    def __init__(self, store: Callable[[Sequence[T]], Sequence[R | BaseException]], *, max_batch: int = 100) -> None:
        self._store = store
        self._max_batch = max_batch
        self._lock = threading.Lock()
        # the thread that leads batches of coroutines: its own, so that handing the lead on never depends on
        # a caller's event loop (one that closed or stopped would leave the lead with nobody)
        self._leader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tipline-group-commit")
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
        if self._enqueue(slot):
            self._lead_then_hand_over()
        else:
            slot.done.wait()
            if slot.lead:  # the previous leader handed over: this slot heads the queue
                slot.done.clear()
                self._lead_then_hand_over()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    async def run_async(self, item: T) -> R:
        """:meth:`run` for a coroutine: the event loop goes on serving other requests while it waits, and no
        thread is taken per caller (the door's thread hand-off and its wake-up, one per report before)."""
        slot: _Slot[T, R] = _Slot(item, asyncio.get_running_loop().create_future())
        if self._enqueue(slot):
            self._start_leader()
        assert slot.future is not None
        return await slot.future

    def _enqueue(self, slot: _Slot[T, R]) -> bool:
        """Queue ``slot``; True when no batch is in flight, so that its caller leads."""
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        return lead

    def _lead_then_hand_over(self) -> None:
        """A caller's thread: store one batch (its own item first), then hand the lead on."""
        nxt = self._lead()
        if nxt is not None:
            self._hand_over(nxt)

    def _lead_for_coroutines(self) -> None:
        """An executor thread: store batches while coroutines head the queue; a thread caller at the head
        takes the lead from here."""
        while (nxt := self._lead()) is not None:
            if nxt.future is None:
                self._hand_over(nxt)
                return

    def _hand_over(self, nxt: _Slot[T, R]) -> None:
        if nxt.future is None:  # a thread waits for its result: wake it to lead
            nxt.lead = True
            nxt.done.set()
        else:  # a coroutine has no thread: the group's own leader thread leads
            self._start_leader()

    def _start_leader(self) -> None:
        try:
            self._leader.submit(self._lead_for_coroutines)
        except RuntimeError:  # the interpreter is exiting (no new threads): lead in this thread instead
            self._lead_for_coroutines()

    def _lead(self) -> _Slot[T, R] | None:
        """Store the next batch and wake its callers; returns the slot now heading the queue (still
        ``leading``: it is the next batch's to lead) or None when none waits."""
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        nxt: _Slot[T, R] | None = None
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
            by_loop: dict[asyncio.AbstractEventLoop, list[_Slot[T, R]]] = {}
            for s in batch:
                if s.loop is None:
                    s.done.set()
                else:
                    by_loop.setdefault(s.loop, []).append(s)
            for loop, slots in by_loop.items():  # one wake-up of each loop for the whole batch
                try:
                    loop.call_soon_threadsafe(_resolve, slots)
                except RuntimeError:  # pragma: no cover - the loop closed (server stopping): nobody waits
                    pass
        return nxt
