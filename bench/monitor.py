"""Sampling the processes of a run: peak resident memory and CPU time."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

MB = 1024 * 1024


def cpu_seconds(process: psutil.Process) -> float:
    """User plus system CPU time the process has used so far."""
    times = process.cpu_times()
    return float(times.user + times.system)


def find_children(marker: str) -> list[psutil.Process]:
    """The children of this process whose command line contains ``marker``, oldest first.

    Raises:
        LookupError: No child process matches.
    """
    found = []
    for child in psutil.Process().children():
        try:
            if marker in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    if not found:
        raise LookupError(f"no child process with {marker!r} in its command line")
    return sorted(found, key=lambda process: process.pid)


def find_child(marker: str) -> psutil.Process:
    """The child of this process whose command line contains ``marker``.

    Raises:
        LookupError: No child process matches.
    """
    for child in psutil.Process().children():
        try:
            if marker in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    raise LookupError(f"no child process with {marker!r} in its command line")


class PeakRss:
    """Samples the RSS of named processes on a background thread and keeps each one's peak.

    A process that has exited keeps the peak it reached; sampling stops on exit from the
    ``with`` block.
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._processes: dict[str, psutil.Process] = {}
        self._peaks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def track(self, name: str, process: psutil.Process) -> None:
        with self._lock:
            self._processes[name] = process
        self._sample()

    def peak_mb(self, name: str) -> float:
        self._sample()
        with self._lock:
            return round(self._peaks.get(name, 0) / MB, 1)

    def _sample(self) -> None:
        with self._lock:
            for name, process in self._processes.items():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self._peaks[name] = max(rss, self._peaks.get(name, 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
