"""Stopping a search on SIGINT or SIGTERM and keeping the best plan found so far.

Python runs signal handlers only in the main thread, between bytecodes, so a CP-SAT solve that
blocks the main thread in C++ would hear a signal only when it ends. ``run_solver`` therefore runs
the solve in a helper thread while the main thread waits in short slices; a handler installed by
``stop_on_signals`` then asks every running solver to stop (``CpSolver.stop_search``), and CP-SAT
returns its best solution. ``stop_requested`` tells the caller to start no further searches.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from ortools.sat.python import cp_model

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAIT_SLICE_S = 0.1
"""How often the waiting main thread returns to Python, so a signal is heard within this."""

_stop = threading.Event()
_running: set[cp_model.CpSolver] = set()
_lock = threading.Lock()
_local = threading.local()


class SearchScope:
    """The searches one thread runs inside ``with scope:``, stoppable together by ``stop()``
    (which also lets that thread start no new one): a search beside another (the core beside
    neighbourhood search, ``matcher.solve``) is not left running when the other fails."""

    def __init__(self) -> None:
        self.stopped = False
        self._solvers: set[cp_model.CpSolver] = set()

    def stop(self) -> None:
        with _lock:
            self.stopped = True
            for solver in self._solvers:
                solver.stop_search()

    def __enter__(self) -> SearchScope:
        _local.scope = self
        return self

    def __exit__(self, *exc: object) -> None:
        _local.scope = None


def stop_requested() -> bool:
    """True once a stop signal arrived inside ``stop_on_signals``."""
    return _stop.is_set()


def request_stop() -> None:
    """Stop every running search and let no new one start (what the signal handler does)."""
    _stop.set()
    with _lock:
        for solver in _running:
            solver.stop_search()


def _handler(signum: int, frame: FrameType | None) -> None:
    request_stop()


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this block SIGINT and SIGTERM stop the search instead of killing the process.

    Only the main thread may install handlers; elsewhere (a worker thread, a Dask task) the block
    changes nothing. The stop flag is cleared on entry, so one process can run several jobs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()
    previous = {signum: signal.signal(signum, _handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_solver(
    solver: cp_model.CpSolver,
    model: cp_model.CpModel,
    callback: cp_model.CpSolverSolutionCallback | None = None,
) -> int:
    """``solver.solve(model, callback)``, stoppable by ``request_stop`` (and by its thread's
    ``SearchScope``, if any); returns the status."""
    scope: SearchScope | None = getattr(_local, "scope", None)
    # CP-SAT's own SIGINT handler (on by default) is process-wide: a signal arriving as one
    # solve set it up or took it down aborted the process (std::bad_function_call) during
    # neighbourhood search on 5,000 children, which runs several solves a second
    solver.parameters.catch_sigint_signal = False
    with _lock:
        if _stop.is_set() or (scope is not None and scope.stopped):
            solver.parameters.max_time_in_seconds = 0.0
        _running.add(solver)
        if scope is not None:
            scope._solvers.add(solver)
    outcome: dict[str, int | BaseException] = {}

    def work() -> None:
        try:
            outcome["status"] = solver.solve(model, callback)
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = error

    try:
        if threading.current_thread() is threading.main_thread():
            worker = threading.Thread(target=work, name="cp-sat", daemon=True)
            worker.start()
            while worker.is_alive():
                worker.join(WAIT_SLICE_S)
        else:
            work()
    finally:
        with _lock:
            _running.discard(solver)
            if scope is not None:
                scope._solvers.discard(solver)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return int(outcome["status"])  # type: ignore[arg-type]
