"""The prepared GPU session script: its parts, limits and CLI checks agree (it cannot be run here on a GPU)."""

import pytest

from bench.gpu import run


def test_every_part_has_a_runner_and_a_default_limit():
    assert set(run.PARTS) == set(run.RUNNERS) == set(run.DEFAULT_LIMITS)


def test_unknown_part_and_mismatched_limits_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run.main(["--out", str(tmp_path), "--parts", "bench,nope"])
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.main(["--out", str(tmp_path), "--parts", "bench,estimate", "--limits", "100"])
    assert "2 parts" in capsys.readouterr().err
