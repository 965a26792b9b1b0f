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
