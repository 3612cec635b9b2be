"""The concurrent batch runner: many inputs, a bounded number in flight, results as they finish."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
    ordered: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> None:
    """Run `work` on every item, at most `concurrency` at a time.

    `on_result(index, result, error)` is called from the calling thread: in input order when
    `ordered` (as soon as every earlier item is done, so output streams while later items run),
    else as each item finishes. An exception from `work` is handed to `on_result` as `error`, and
    the batch goes on. `should_stop()` true starts nothing new; what is in flight still finishes.
    Ctrl-C cancels what has not started and re-raises, after the results already delivered.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    stop = should_stop or (lambda: False)
    if concurrency == 1:
        for index, item in enumerate(items):
            if stop():
                break
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
            # Keep twice the workers queued so no worker waits while a result is being written.
            while not exhausted and len(window) < 2 * concurrency:
                if stop():
                    exhausted = True
                    break
                try:
                    index, item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                window.append((index, pool.submit(work, item)))
            if not window:
                break
            if ordered:
                index, future = window.popleft()
            else:
                done, _ = wait([f for _, f in window], return_when=FIRST_COMPLETED)
                position = next(i for i, (_, f) in enumerate(window) if f in done)
                index, future = window[position]
                del window[position]
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
