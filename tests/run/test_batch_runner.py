"""core.batch.run_batch: completion order on request, and a stop that starts nothing new."""

from __future__ import annotations

import threading
import time

from llmctl.core.batch import run_batch


def test_unordered_delivers_as_items_finish() -> None:
    others_done = threading.Event()
    seen: list[int] = []

    def work(i: int) -> int:
        if i == 0:
            # The first item finishes only once the three after it have been delivered.
            assert others_done.wait(timeout=10)
        return i

    def on_result(i: int, result: int | None, error: BaseException | None) -> None:
        assert error is None
        seen.append(i)
        if len(seen) == 3:
            others_done.set()

    run_batch(range(4), work, concurrency=4, on_result=on_result, ordered=False)
    assert sorted(seen[:3]) == [1, 2, 3] and seen[3] == 0
    ordered: list[int] = []
    run_batch(range(4), lambda i: i, concurrency=4, on_result=lambda i, r, e: ordered.append(i))
    assert ordered == [0, 1, 2, 3]


def test_should_stop_starts_nothing_new_and_in_flight_work_finishes() -> None:
    started: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        if i == 5:
            stop.set()
        time.sleep(0.01)
        return i

    delivered: list[int] = []
    run_batch(range(1000), work, concurrency=2, on_result=lambda i, r, e: delivered.append(i),
              should_stop=stop.is_set)
    assert 5 in delivered and len(started) < 20
    assert sorted(delivered) == sorted(started)  # whatever started was delivered
    one: list[int] = []
    stop.clear()
    run_batch(range(100), work, concurrency=1, on_result=lambda i, r, e: one.append(i), should_stop=stop.is_set)
    assert one == list(range(6))
