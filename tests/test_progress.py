"""Progress in the run's log where no terminal shows a bar: a line a minute with the time left at this
process's own rate, nothing for short work."""

from __future__ import annotations

import io

from repro.progress import LoggedProgress, duration, status
from repro.run import Run


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_status_gives_the_time_left_at_the_rate_of_this_process():
    assert status(30, 100, 60.0, 30) == "30/100 (30 %), 60.0 s so far, about 2.3 min left"  # 70 x 2 s
    assert status(60, 100, 60.0, 10) == "60/100 (60 %), 60.0 s so far, about 4.0 min left"  # resumed at 50
    assert status(50, 100, 0.0, 0) == "50/100 (50 %), 0.0 s so far"  # nothing done here yet: no rate
    assert status(7, None, 3.0, 7) == "7 done, 3.0 s so far"
    assert [duration(s) for s in (119.0, 120.0, 7199.0, 7200.0)] == ["119.0 s", "2.0 min", "120.0 min", "2.00 h"]


def test_a_line_per_interval_and_a_closing_line():
    lines, clock = [], Clock()
    bar = LoggedProgress(lines.append, total=10, desc="train", interval=60.0, clock=clock)
    for step in range(1, 11):
        clock.now = 25.0 * step  # lines once 60 s have passed since the last: after steps 3, 6 and 9
        bar.set_postfix(loss=f"{1 / step:.2f}")
        bar.update(1)
    bar.close()
    assert lines == [
        "train: 3/10 (30 %), 75.0 s so far, about 2.9 min left; loss 0.33",
        "train: 6/10 (60 %), 2.5 min so far, about 100.0 s left; loss 0.17",
        "train: 9/10 (90 %), 3.8 min so far, about 25.0 s left; loss 0.11",
        "train: 10/10 (100 %), 4.2 min so far, about 0.0 s left; loss 0.10",
    ]


def test_short_work_logs_nothing_and_iteration_keeps_the_items():
    lines, clock = [], Clock()
    assert list(LoggedProgress(lines.append, range(5), desc="seeds", clock=clock)) == [0, 1, 2, 3, 4]
    assert lines == []


def test_a_resumed_bar_counts_its_rate_from_where_it_started():
    lines, clock = [], Clock()
    bar = LoggedProgress(lines.append, total=100, desc="train", initial=90, interval=60.0, clock=clock)
    clock.now = 60.0
    bar.update(5)
    assert lines == ["train: 95/100 (95 %), 60.0 s so far, about 60.0 s left"]


def test_off_a_terminal_the_run_logs_progress_to_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())  # what a Snakemake job's stderr is: not a terminal
    run = Run("p", "e", "smoke", {"seed": 0}, runs_root=tmp_path)
    bar = run.progress(total=4, desc="sample x")
    assert isinstance(bar, LoggedProgress)
    bar.interval = 0.0  # every update logs
    bar.update(2)
    assert "e: sample x: 2/4 (50 %)" in (run.root / "log.txt").read_text()
