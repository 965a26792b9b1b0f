"""`python -m chalicelib.local serve` passes its state options on (what `make serve` and
`make serve FRESH=1` run)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("argv, state_dir, fresh", [
    (["serve"], None, False),
    (["serve", "--fresh"], None, True),
    (["serve", "--state-dir", "/tmp/x", "--fresh"], "/tmp/x", True),
])
def test_serve_options(monkeypatch, argv, state_dir, fresh):
    from chalicelib.local import __main__ as cli
    from chalicelib.local import server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda **kw: seen.update(kw) or 0)
    assert cli.main(argv) == 0
    assert seen["state_dir"] == state_dir and seen["fresh"] is fresh


def test_make_serve_fresh_passes_the_flag():
    out = subprocess.run(["make", "-n", "serve", "FRESH=1"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    assert "-m chalicelib.local serve" in out and "--fresh" in out
    out = subprocess.run(["make", "-n", "serve"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert "--fresh" not in out
