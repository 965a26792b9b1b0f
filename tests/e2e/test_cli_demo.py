"""`python -m activelabel_client demo --exit-after` as a user runs it: a subprocess on a free port."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_exits_0_after_showing_the_promoted_model():
    command = [sys.executable, "-m", "activelabel_client", "demo", "--port", "0", "--exit-after",
               "--n-tasks", "120", "--n-complete", "30", "--n-test", "100", "--no-progress"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
    assert re.search(r"model_version v\d+ is active", done.stdout), done.stdout
    assert "demo OK" in done.stdout
    assert re.search(r"accuracy 0\.\d+ on 100 messages", done.stdout)
