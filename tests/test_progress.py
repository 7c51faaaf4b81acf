"""Progress callbacks: :func:`advance_rows` reaches the bar of its own context's :func:`row_progress` only."""

from __future__ import annotations

import io
import threading

from targetsel.progress import advance_rows, progress, row_progress


def _bar(total: int):
    return progress(total=total, enabled=True, file=io.StringIO())


def test_rows_reach_the_innermost_bar_and_nothing_outside() -> None:
    advance_rows(5)  # no block: nothing to advance, no error
    with _bar(10) as outer, row_progress(outer) as outer_rows:
        advance_rows(2)
        with _bar(10) as inner, row_progress(inner) as inner_rows:
            advance_rows(3)
        advance_rows(1)
    advance_rows(5)
    assert (outer.n, outer_rows["done"]) == (3, 3)
    assert (inner.n, inner_rows["done"]) == (3, 3)


def test_each_thread_advances_its_own_bar() -> None:
    both_open = threading.Barrier(2)
    done: dict[str, tuple[int, int]] = {}

    def encode(name: str, batches: int) -> None:
        with _bar(10 * batches) as bar, row_progress(bar) as rows:
            both_open.wait()  # the other thread's block is open too: one global bar stack would mix them
            for _ in range(batches):
                advance_rows(10)
            both_open.wait()
        done[name] = (bar.n, rows["done"])

    threads = [threading.Thread(target=encode, args=(name, n)) for name, n in (("a", 300), ("b", 700))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done == {"a": (3000, 3000), "b": (7000, 7000)}
