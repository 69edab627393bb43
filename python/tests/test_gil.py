"""Scoring releases the GIL: Python threads keep running while a table is scored."""

import threading
import time

import pyarrow as pa

from conftest import AS_OF, jsonl_table


def big_table(copies):
    return pa.concat_tables([jsonl_table()] * copies)


def test_python_threads_run_while_a_table_is_scored(scorer):
    table = big_table(4000)  # 60k leads: long enough to measure, short enough for CI
    done = threading.Event()
    spans = []

    def score():
        start = time.perf_counter()
        scorer.score_arrow(table, as_of=AS_OF)
        spans.append(time.perf_counter() - start)
        done.set()

    worker = threading.Thread(target=score)
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        sum(range(200))  # pure-Python work: needs the GIL
    worker.join()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    # Holding the GIL for the whole call would stall this loop for all of it; released,
    # the loop only waits for the thread switch interval (5 ms) now and then.
    assert spans[0] > 0.05, "the table is too small to tell"
    assert len(ticks) > 100
    assert max(gaps) < spans[0] / 3, (max(gaps), spans[0])


def test_two_threads_scoring_at_once_share_one_scorer(scorer):
    table = big_table(200)
    expected = scorer.score_arrow(table, as_of=AS_OF)
    results = [None, None]

    def run(i):
        results[i] = scorer.score_arrow(table, as_of=AS_OF)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == expected and results[1] == expected
