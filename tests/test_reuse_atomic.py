"""Atomic writes give files the mode a plain open() would: 0666 without the umask's bits."""

import os
import stat

import pytest

from repro import atomic


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_files_follow_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"y")
        plain = tmp_path / "plain.txt"
        plain.write_text("z")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_no_temp_file(tmp_path):
    with pytest.raises(RuntimeError), atomic.atomic_path(tmp_path / "c.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
