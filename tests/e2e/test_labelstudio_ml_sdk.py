"""A backend built with the `label-studio-ml` SDK serves as a project's custom model: predictions come
back through /api/projects/{id}/predict and a training reaches its fit(). Needs `.venv-lsml/`
(`make e2e-labelstudio` creates it: label-studio-ml 1.0.9 downgrades Flask, so it lives apart);
skipped without it."""
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.functional.helpers import (
    balanced_rows, complete_rows, import_texts, make_project, training)

LSML_PYTHON = ROOT / ".venv-lsml" / "bin" / "python"
pytestmark = pytest.mark.skipif(not LSML_PYTHON.exists(), reason="needs .venv-lsml (make e2e-labelstudio)")


@pytest.fixture
def sdk_backend(tmp_path, request):
    """The SDK server; `request.param` is LABEL_STUDIO_ML_BACKEND_V2 ("" = legacy /train mode)."""
    import os

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fit_log = tmp_path / "fit.jsonl"
    log = open(tmp_path / "backend.log", "w")
    proc = subprocess.Popen([str(LSML_PYTHON), str(Path(__file__).parent / "lsml" / "keyword_backend.py"),
                             str(port), str(tmp_path / "models"), str(fit_log)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "LABEL_STUDIO_ML_BACKEND_V2": request.param})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "backend.log").read_text())
        yield url, fit_log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("sdk_backend", [""], indirect=True)
def test_sdk_backend_predicts_and_trains_as_a_custom_model(api, pump, sdk_backend):
    url, fit_log = sdk_backend
    project_id = make_project(api, min_completions=6, model="custom", custom_backend={"url": url})
    texts = ["WIN a free prize now", "see you at lunch", "URGENT claim your reward"]
    answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": t} for t in texts]})
    assert answer.status_code == 200, answer.json
    before = answer.json
    assert [r["result"][0]["value"]["choices"][0] for r in before["results"]] == ["spam", "ham", "ham"]
    assert all(r["model_version"] == before["model_version"] for r in before["results"])

    rows = balanced_rows(6, seed=31) + [{"text": "URGENT reward waiting, claim it", "label": "spam"}]
    complete_rows(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    state = training(api, project_id)
    assert state["state"] == "idle" and not state["last_error"], state
    fits = [json.loads(line) for line in fit_log.read_text().splitlines()]
    assert len(fits) == 1 and len(fits[0]["tasks"]) in (6, 7)  # the accepted tasks when the training was due
    after = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": t} for t in texts]}).json
    assert after["model_version"] != before["model_version"]
    assert all(r["model_version"] == after["model_version"] for r in after["results"])


@pytest.mark.parametrize("sdk_backend", ["true"], indirect=True)
def test_sdk_backend_in_webhook_mode_gets_its_training_event(api, pump, sdk_backend):
    url, fit_log = sdk_backend
    project_id = make_project(api, min_completions=3, model="custom", custom_backend={"url": url})
    rows = balanced_rows(3, seed=32)
    complete_rows(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    assert training(api, project_id)["last_error"] is None
    for _ in range(50):  # the SDK runs fit() in a forked process after answering
        if fit_log.exists():
            break
        time.sleep(0.1)
    fits = [json.loads(line) for line in fit_log.read_text().splitlines()]
    assert [f["event"] for f in fits] == ["PROJECT_UPDATED"]
