"""Worker processes whose death ends the build with a clear error instead of a hang.

``multiprocessing.Pool`` waits forever for the result of a task whose worker
was killed (as the kernel's out-of-memory killer does). Here each worker has
its own pipe and the main process waits on the pipes and on the workers'
process sentinels together, so a dead worker is seen at once; a shared array
holds the index each worker is converting, so the error names that record.
Workers ignore Ctrl-C (the main process handles it and stops them).

Example:
>>> list(imap_ordered(abs, 3, workers=0))
[0, 1, 2]
"""

from __future__ import annotations

import collections
import multiprocessing
import signal
import threading
from multiprocessing.connection import wait
from typing import Callable, Iterator

#: Chunks sent ahead to each worker, so none waits for the main process.
_AHEAD = 2


class WorkerDied(RuntimeError):
    """A worker process ended while converting item ``index`` (exit code ``exitcode``)."""

    def __init__(self, index: int, exitcode: int | None):
        self.index, self.exitcode = index, exitcode
        how = (f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0
               else f"exit code {exitcode}")
        super().__init__(f"a worker process died ({how})")


def _worker_main(conn, current, slot, initializer, initargs, function) -> None:
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the main process closed its end: it is stopping
            return
        if task is None:
            return
        results = []
        for index in range(*task):
            current[slot] = index
            results.append(function(index))
        try:
            conn.send(results)
        except OSError:  # broken pipe: the main process stopped (Ctrl-C) while this chunk ran
            return


def _retire(waiting, slot, conns, processes, sent, current) -> None:
    """Stop waiting on a worker that ended; an error if it still held work."""
    processes[slot].join(1)
    if sent[slot]:
        raise WorkerDied(current[slot] if current[slot] >= 0 else sent[slot][0][0],
                         processes[slot].exitcode)
    waiting.pop(conns[slot], None)
    waiting.pop(processes[slot].sentinel, None)


def imap_ordered(function: Callable[[int], object], count: int, *, workers: int,
                 initializer: Callable | None = None, initargs: tuple = (),
                 chunksize: int = 64) -> Iterator:
    """``function(i)`` for ``i`` in ``range(count)``, in order, computed by ``workers`` processes.

    ``workers <= 0`` runs in this process. ``function`` and ``initializer`` must be
    importable (spawned workers).

    Raises:
        WorkerDied: a worker process ended before returning its results.
    """
    if workers <= 0:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, range(count))
        return
    context = multiprocessing.get_context("spawn")
    current = context.RawArray("q", [-1] * workers)
    chunks = collections.deque((start, min(start + chunksize, count))
                               for start in range(0, count, chunksize))
    processes, conns, sent = [], [], []
    finished = False
    # Started with SIGINT ignored, a worker ignores it from its first instruction (Python keeps an
    # inherited SIG_IGN), so Ctrl-C in a terminal never prints a worker's traceback.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        for slot in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_worker_main, daemon=True,
                                      args=(child, current, slot, initializer, initargs, function))
            process.start()
            child.close()
            processes.append(process)
            conns.append(parent)
            sent.append(collections.deque())
            for _ in range(_AHEAD):
                if chunks:
                    sent[slot].append(chunks.popleft())
                    parent.send(sent[slot][-1])
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
            in_main_thread = False
        done: dict[int, object] = {}
        next_index = 0
        waiting = {**{conn: slot for slot, conn in enumerate(conns)},
                   **{process.sentinel: slot for slot, process in enumerate(processes)}}
        while next_index < count:
            for ready in sorted(wait(list(waiting)),
                                key=lambda item: item not in conns):  # results first
                slot = waiting.get(ready)
                if slot is None:
                    continue
                if ready is conns[slot]:
                    try:
                        results = ready.recv()
                    except (EOFError, OSError):
                        processes[slot].join(1)
                        results = None
                    if results is None or not sent[slot]:
                        _retire(waiting, slot, conns, processes, sent, current)
                        continue
                    start, _ = sent[slot].popleft()
                    done.update(zip(range(start, start + len(results)), results))
                    if chunks:
                        sent[slot].append(chunks.popleft())
                        ready.send(sent[slot][-1])
                else:
                    _retire(waiting, slot, conns, processes, sent, current)
            while next_index in done:
                yield done.pop(next_index)
                next_index += 1
        finished = True
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
        if not finished:  # stopped early: end the workers before their pipes break under them
            for process in processes:
                process.terminate()
        for conn in conns:
            try:
                if finished:
                    conn.send(None)
            except OSError:
                pass
            conn.close()
        for process in processes:
            if finished:
                process.join(5)
            if process.is_alive():
                process.terminate()
            process.join()
