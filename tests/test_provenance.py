"""The commit stamp: '+dirty' for a changed tracked file, but not for the workflow rewriting its own outputs."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import repro.provenance


def _checkout(tmp_path: Path):
    """A git checkout holding a copy of provenance.py (it stamps the checkout it lives in) and one output file."""
    for d in ("repro", "results", "report"):
        (tmp_path / d).mkdir()
    shutil.copy(repro.provenance.__file__, tmp_path / "repro" / "provenance.py")
    (tmp_path / "results" / "x.csv").write_text("a\n")
    (tmp_path / "report" / "index.html").write_text("<p>\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    spec = importlib.util.spec_from_file_location("provenance_copy", tmp_path / "repro" / "provenance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_do_not_make_the_checkout_dirty_but_code_does(tmp_path):
    prov = _checkout(tmp_path)
    clean = prov.git_commit()
    assert len(clean) == 12 and not clean.endswith("+dirty")
    (tmp_path / "results" / "x.csv").write_text("b\n")
    (tmp_path / "report" / "index.html").write_text("<p>new\n")
    assert prov.git_commit() == clean
    with open(tmp_path / "repro" / "provenance.py", "a") as fh:
        fh.write("# edited\n")
    assert prov.git_commit() == clean + "+dirty"
