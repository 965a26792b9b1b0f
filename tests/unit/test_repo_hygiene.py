"""Nothing generated is tracked: a committed virtualenv once made the history 170 MB."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_virtualenv_or_build_output_is_tracked():
    tracked = subprocess.run(["git", "ls-files", ".venv*", "dist", "bench/out"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked == []
