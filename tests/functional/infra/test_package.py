"""The Lambda package and layer that `make package` builds: size, slimming, and that they run.

The train and predict paths run in a bare CPython 3.12 (`-S -s`: no site-packages) whose only
imports are the unzipped app package, the unzipped layer and the packages the Lambda runtime
provides (boto3/botocore, set aside by the build): the layer that ships is the one tested.
"""
import json
import re
import subprocess
import zipfile

from tests.functional.infra.conftest import MB, ROOT, clean_env

BUDGET_BYTES = 230 * MB  # Lambda allows 250 MB unzipped for a function and its layers
PROBE = ROOT / "infra" / "layer_probe.py"


def pinned(name):
    text = (ROOT / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(name)}==(\S+)", text, re.M).group(1)


def test_package_plus_layer_fit_the_unzipped_budget(packaged):
    report = packaged["report"]
    with zipfile.ZipFile(packaged["out"] / "layer.zip") as z:
        layer = sum(i.file_size for i in z.infolist())
    with zipfile.ZipFile(packaged["out"] / "deployment.zip") as z:
        app = sum(i.file_size for i in z.infolist())
    assert (app, layer) == (report["package_unzipped_bytes"], report["layer_unzipped_bytes"])
    assert app + layer < BUDGET_BYTES, f"{(app + layer) / MB:.1f} MB unzipped: over the {BUDGET_BYTES / MB:.0f} MB budget"
    # CloudFormation uploads through S3, but a layer over 50 MB zipped could not be published directly
    # either way; record that the app itself stays tiny (it is re-uploaded on every deploy).
    assert report["package_zip_bytes"] < 1 * MB


def test_layer_is_slimmed_and_app_package_holds_no_dependencies(packaged):
    with zipfile.ZipFile(packaged["out"] / "layer.zip") as z:
        names = z.namelist()
    assert all(n.startswith("python/") for n in names)
    parts = [n.split("/") for n in names]
    assert not [n for n, p in zip(names, parts) if "tests" in p[:-1]], "tests/ folders shipped"
    assert not [n for n in names if n.endswith((".pyx", ".pxd", ".pyi"))], "Cython sources or stubs shipped"
    assert not {p[1] for p in parts} & {"boto3", "botocore", "s3transfer"}, "the runtime provides boto3/botocore"
    assert {p[1] for p in parts} >= {"numpy", "scipy", "sklearn", "joblib", "pynamodb", "defusedxml"}
    assert any(n.endswith(".so") for n in names) and any("scipy.libs/" in n for n in names)
    # .pyc only in __pycache__ next to an imported module, compiled for 3.12
    pycs = [n for n in names if n.endswith(".pyc")]
    assert "python/sklearn/__pycache__/__init__.cpython-312.pyc" in pycs
    assert all("/__pycache__/" in n and n.endswith(".cpython-312.pyc") for n in pycs)

    with zipfile.ZipFile(packaged["out"] / "deployment.zip") as z:
        app_names = z.namelist()
    assert "app.py" in app_names and "chalicelib/ml/serving.py" in app_names
    assert not [n for n in app_names if n.startswith(("chalicelib/local/", "numpy/", "sklearn/", "pynamodb/"))]
    # the web console's static files ship with the app (served by GET /ui/{asset})
    from chalicelib.console import static

    assert {f"chalicelib/console/assets/{name}" for name in static.FILES} <= set(app_names)


def test_bare_python312_sees_nothing_but_what_ships(python312, unpacked):
    """The check below can fail: without the layer, scikit-learn is not importable."""
    out = subprocess.run([python312, "-S", "-s", "-c", "import sklearn"], cwd=unpacked["task"],
                         env=clean_env(unpacked["task"], unpacked["runtime_provided"]), capture_output=True, text=True)
    assert out.returncode != 0 and "No module named 'sklearn'" in out.stderr


def test_train_and_predict_from_the_unzipped_layer(python312, unpacked, tmp_path):
    out = subprocess.run(
        [python312, "-S", "-s", str(PROBE), "--json", "--layer", str(unpacked["layer"]),
         "--artifact", str(tmp_path / "model.joblib")],
        cwd=tmp_path, env=clean_env(unpacked["task"], unpacked["layer"], unpacked["runtime_provided"]),
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["python"].startswith("3.12.")
    assert report["versions"] == {"numpy": pinned("numpy"), "scipy": pinned("scipy"), "sklearn": pinned("scikit-learn")}
    # every heavy library came from the layer, not from anywhere else
    for module in ("sklearn/__init__.py", "numpy/__init__.py", "scipy/__init__.py", "joblib/__init__.py",
                   "pynamodb/__init__.py", "defusedxml/__init__.py"):
        assert module in report["layer_modules"], module
    assert report["metrics"]["n_train"] == 300 and report["metrics"]["method"] == "holdout-20%"
    assert report["test_accuracy"] >= 0.9, report  # SMS spam: TF-IDF + LR on 300 messages, 200 held out
    first = report["first_result"]
    assert first["model_version"] == "v1" and 0.5 <= first["score"] <= 1.0
    assert first["result"][0]["value"]["choices"][0] in ("ham", "spam")
    assert (tmp_path / "model.joblib").stat().st_size == report["artifact_bytes"]
