"""`import app` must not pull numpy/scipy/sklearn/joblib: every function pays its cold start."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "numpy", "scipy", "joblib")


def test_importing_app_loads_no_heavy_ml_library():
    code = (
        "import sys, app; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"app imports {out.stdout.strip()} at module level"


def test_the_check_itself_can_fail():
    code = "import sys, app, chalicelib.ml.training as t; t.sklearn_version(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_label_studio_health_in_a_fresh_process_loads_no_heavy_library():
    """Label Studio allows /health 1 s (and /setup 3 s) even on a cold start: answering /ls/health
    must not import the ML stack. Prints the fresh-process time (reported, never asserted; the
    benchmark is bench/ls_health_cold.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from ls_health_cold import HEALTH

    code = HEALTH + f"import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules) or '-')\n"
    env = {**__import__("os").environ, "ACTIVELABEL_LS_BASIC_AUTH": "u:p"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    seconds, heavy = out.stdout.split()
    print(f"\n/ls/health in a fresh process (import app + first answer): {float(seconds):.3f} s")
    assert heavy == "-"
