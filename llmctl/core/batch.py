"""The concurrent batch runner: many inputs, a bounded number in flight, results in input order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

ResultSink = Callable[[int, "R | None", "BaseException | None"], None]


def run_batch(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    concurrency: int,
    on_result: Callable[[int, R | None, BaseException | None], None],
) -> None:
    """Run `work` on every item, at most `concurrency` at a time.

    `on_result(index, result, error)` is called in input order, as soon as every earlier item is
    done, so output can stream while later items still run. An exception from `work` is handed to
    `on_result` as `error`, and the batch goes on. Ctrl-C cancels what has not started and re-raises,
    after the results already delivered.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if concurrency == 1:
        for index, item in enumerate(items):
            try:
                result = work(item)
            except Exception as exc:
                on_result(index, None, exc)
            else:
                on_result(index, result, None)
        return
    window: deque[tuple[int, Future[R]]] = deque()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="llmctl-batch")
    try:
        iterator = iter(enumerate(items))
        exhausted = False
        while True:
            # Keep twice the workers queued so no worker waits while the head is being written.
            while not exhausted and len(window) < 2 * concurrency:
                try:
                    index, item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                window.append((index, pool.submit(work, item)))
            if not window:
                break
            index, future = window.popleft()
            try:
                result = future.result()
            except Exception as exc:
                on_result(index, None, exc)
            else:
                on_result(index, result, None)
    except BaseException:
        for _, future in window:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
