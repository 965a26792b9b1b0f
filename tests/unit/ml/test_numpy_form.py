"""The numpy serving form: a cold predict needs no scikit-learn, and loading it trusts nothing.

Agreement with the scikit-learn model, per kind on real data, is checked where those models are
trained (tests/unit/ml/test_quality_floors.py)."""
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split
from chalicelib.ml import numpy_form, training
from tests import kind_data
from tests.kind_data import target
from chalicelib.ml.registry import get_kind

ROOT = Path(__file__).resolve().parents[3]
COLD_PREDICT = """
import json, sys
import app
from chalicelib.ml import serving
body = open(sys.argv[1], "rb").read()
pointer = serving.ModelPointer(bucket="b", key="k", version_id="1", sha256="-", sklearn_version=sys.argv[2],
                               model_version="v1")
results = serving.predict(pointer, json.loads(sys.argv[3]), lambda p: body)
print(json.dumps({"heavy": [m for m in ("sklearn", "scipy", "joblib") if m in sys.modules],
                  "labels": [r["result"][0]["value"]["choices"][0] for r in results],
                  "scores": [r["score"] for r in results]}))
"""


@pytest.fixture(scope="module")
def sms_model():
    pool, test = sms_split(200, 40, seed=5)
    model = get_kind("text_classifier").implementation()(target(SMS_LABEL_CONFIG, "text_classifier"))
    model.fit(model.encode([r["text"] for r in pool]), [r["label"] for r in pool])
    return model, [{"text": r["text"]} for r in test]


def cold_predict(tmp_path, body: bytes, sklearn_version: str, samples: list[dict]) -> dict:
    artifact = tmp_path / "artifact"
    artifact.write_bytes(body)
    out = subprocess.run([sys.executable, "-c", COLD_PREDICT, str(artifact), sklearn_version, json.dumps(samples)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_cold_predict_from_the_numpy_form_imports_no_scikit_learn(tmp_path, sms_model):
    model, samples = sms_model
    expected = model.predictions(samples, "v1")
    # the numpy form serves whatever scikit-learn version is recorded (none is imported)
    answer = cold_predict(tmp_path, numpy_form.export(model), "0.0-not-installed", samples)
    assert answer["heavy"] == []
    assert answer["labels"] == [p["result"][0]["value"]["choices"][0] for p in expected]
    assert np.allclose(answer["scores"], [p["score"] for p in expected], rtol=0, atol=1e-6)
    assert {"ham", "spam"} <= set(answer["labels"])


def test_the_check_itself_can_fail_the_joblib_artifact_imports_scikit_learn(tmp_path, sms_model):
    model, samples = sms_model
    answer = cold_predict(tmp_path, training.serialize(model), training.sklearn_version(), samples[:2])
    assert "sklearn" in answer["heavy"]


def spec_of(body: bytes) -> tuple[dict, dict]:
    with np.load(io.BytesIO(body), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays["spec"].tobytes()), arrays


def repacked(arrays: dict, spec: dict) -> bytes:
    arrays = {**arrays, "spec": np.frombuffer(json.dumps(spec).encode(), dtype=np.uint8)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_loading_names_only_model_classes_and_reads_no_pickle(sms_model):
    body = numpy_form.export(sms_model[0])
    spec, arrays = spec_of(body)
    assert numpy_form.load(repacked(arrays, spec)).classes_ == ["ham", "spam"]
    for module, name in (("os", "system"), ("chalicelib.ml.text_classifier", "text_features"),
                         ("chalicelib.store.artifacts", "StoredArtifact")):
        forged = {**spec, "model": {**spec["model"], "module": module, "class": name}}
        with pytest.raises(ValueError, match="numpy model form names"):
            numpy_form.load(repacked(arrays, forged))
    with pytest.raises(ValueError):  # an object array would need pickle: refused
        numpy_form.load(repacked({**arrays, "0.0.idf": np.array([{"x": 1}], dtype=object)}, spec))
    with pytest.raises(ValueError, match="activelabel-numpy"):
        numpy_form.load(repacked(arrays, {**spec, "format_version": 99}))


def test_an_estimator_without_a_numpy_form_keeps_joblib():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    from chalicelib.ml.tabular import table_features

    rows = kind_data.breast_cancer_rows()[:60]
    model = get_kind("tabular").implementation()(target(kind_data.tabular_config("Choices"), "tabular"))
    model.estimator = Pipeline([("features", table_features()), ("classifier", KNeighborsClassifier(3))]).fit(
        [r[0] for r in rows], [r[1] for r in rows])
    assert numpy_form.export(model) is None
    model.fit(model.encode([r[0] for r in rows]), [r[1] for r in rows])
    body = numpy_form.export(model)
    assert body is not None and hashlib.sha256(body).hexdigest() == hashlib.sha256(numpy_form.export(model)).hexdigest()
