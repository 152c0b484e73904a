"""Progress of long work in the run's log, where no terminal shows a bar (Snakemake, a batch job): how far, how
long so far, and about how long is left."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

INTERVAL = 60.0  # seconds between two lines of one piece of work


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def status(done: int, total: int | None, elapsed: float, done_here: int) -> str:
    """'done/total (p %), <time> so far, about <time> left': the time left at the rate of the `done_here` units
    this process did in `elapsed` (a resumed job's earlier units took no time here)."""
    if not total:
        return f"{done} done, {duration(elapsed)} so far"
    left = f", about {duration(elapsed / done_here * (total - done))} left" if done_here else ""
    return f"{done}/{total} ({100 * done / total:.0f} %), {duration(elapsed)} so far{left}"


class LoggedProgress:
    """The part of tqdm's interface the harness uses (iterate, update, set_postfix, close), writing a status line
    through `log` at most every `interval` seconds instead of redrawing a bar; a closing line only after work long
    enough to have logged one."""

    def __init__(
        self,
        log: Callable[[str], None],
        iterable: Iterable | None = None,
        total: int | None = None,
        desc: str = "",
        initial: int = 0,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.log, self.iterable, self.total, self.desc = log, iterable, total, desc
        self.n, self.initial, self.interval, self.clock = initial, initial, interval, clock
        self.postfix = ""
        self._t0 = self._last = clock()
        self._logged_n: int | None = None

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.clock() - self._last >= self.interval:
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if self._logged_n is not None and self._logged_n != self.n:
            self._line()

    def _line(self) -> None:
        self._last = now = self.clock()
        line = f"{self.desc}: {status(self.n, self.total, now - self._t0, self.n - self.initial)}"
        self.log(line + (f"; {self.postfix}" if self.postfix else ""))
        self._logged_n = self.n
