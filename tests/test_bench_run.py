"""`python -m bench.run` merges: a partial run replaces its own modules' rows and keeps every other module's."""

from __future__ import annotations

from bench import Result, read_csv, write_csv
from bench.run import merged


def _row(source: str, name: str, value: float, group: str = "sampler") -> Result:
    return Result(group, name, "ratio", value, "ratio", "", source)


def test_a_partial_run_replaces_only_its_own_modules_rows(tmp_path):
    path = tmp_path / "results.csv"
    write_csv(
        [
            _row("bench.run", "load average (start)", 0.5, "machine"),
            _row("bench.samplers", "pc_sampler", 1.2),
            _row("bench.samplers", "rk45", 1.3),
            _row("bench.train_step", "ncsn", 1.01),
        ],
        path,
    )
    fresh = [_row("bench.run", "load average (start)", 0.9, "machine"), _row("bench.samplers", "pc_sampler", 1.05)]
    rows = merged(read_csv(path), fresh)
    assert [(r.source, r.name, r.value) for r in rows] == [
        ("bench.run", "load average (start)", 0.9),
        ("bench.train_step", "ncsn", 1.01),
        ("bench.samplers", "pc_sampler", 1.05),  # rk45's old row is gone with its module's run
    ]
