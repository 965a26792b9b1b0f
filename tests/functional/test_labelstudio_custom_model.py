"""A Label Studio ML backend as a project's custom model: small protocol-speaking servers on
loopback (tests/functional/ls_fakes.py) stand in for label-studio-ml backends, current and old."""
from activelabel_client.datasets import SMS_LABEL_CONFIG

from tests.functional.helpers import (
    balanced_rows, complete_rows, import_texts, make_project, training)
from tests.functional.ls_fakes import FakeMLBackend, NotAnMLBackend, keyword_label, serving


def custom(url, **auth):
    return {"model": "custom", "custom_backend": {"url": url, **auth}}


def test_saving_a_custom_model_checks_health_and_setup(api):
    project_id = make_project(api)
    before = api.get(f"/api/projects/{project_id}/ml").json
    with serving(FakeMLBackend(user="u", password="p")) as backend:
        no_auth = api.put(f"/api/projects/{project_id}/ml", custom(backend.url))
        assert no_auth.status_code == 400 and "credentials" in no_auth.json["Message"]
        assert no_auth.json["Field"] == "ml.custom_backend.url"
        ok = api.put(f"/api/projects/{project_id}/ml", custom(backend.url, basic_auth_user="u", basic_auth_pass="p"))
        assert ok.status_code == 200, ok.json
        assert [p for p in backend.paths() if p != "/health"] == ["/setup"]
        # the password is stored encrypted and never shown; sending the mask back keeps it
        shown = api.get(f"/api/projects/{project_id}/ml").json["custom_backend"]
        assert shown == {"url": backend.url, "basic_auth_user": "u", "basic_auth_pass": "********"}
        assert api.get(f"/api/projects/{project_id}").json["ml"]["custom_backend"]["basic_auth_pass"] == "********"
        from chalicelib.store import projects as project_db

        stored = project_db.get_project(project_id).ml["custom_backend"]["basic_auth_pass"]
        assert stored.startswith("sealed:") and "p" != stored
        moved = api.put(f"/api/projects/{project_id}/ml", {"custom_backend": {**shown, "url": backend.url + "/"}})
        assert moved.status_code == 200, moved.json  # re-checked with the stored password
        assert api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "free"}]}).status_code == 200
    with serving(NotAnMLBackend()) as web:
        answer = api.put(f"/api/projects/{project_id}/ml", custom(web.url + "/"))
        assert answer.status_code == 400 and "doesn't look like a valid ML backend" in answer.json["Message"]
    # a backend that is down: nothing written
    down = api.put(f"/api/projects/{project_id}/ml", custom("http://127.0.0.1:9/"))
    assert down.status_code == 400 and "health check failed" in down.json["Message"]
    assert api.get(f"/api/projects/{project_id}/ml").json["model"] == "custom" != before["model"]


def test_refused_addresses_are_named(api, monkeypatch):
    project_id = make_project(api)
    for url, why in (("http://169.254.169.254/latest/", "metadata"), ("http://[fe80::1]/", "link-local"),
                     ("http://10.1.2.3/", "private")):
        answer = api.put(f"/api/projects/{project_id}/ml", custom(url))
        assert answer.status_code == 400 and why in answer.json["Message"], answer.json
    monkeypatch.setenv("ACTIVELABEL_OUTBOUND_ALLOW", "")
    answer = api.put(f"/api/projects/{project_id}/ml", custom("http://127.0.0.1:9/"))
    assert answer.status_code == 400 and "loopback" in answer.json["Message"]


def test_predictions_in_batches_and_training_forwarded_by_webhook(api, pump):
    rows = balanced_rows(130, seed=11)
    with serving(FakeMLBackend()) as backend:
        project_id = make_project(api, min_completions=5, **custom(backend.url))
        answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": r["text"]}} for r in rows]})
        assert answer.status_code == 200, answer.json
        results = answer.json["results"]
        assert len(results) == 130 and answer.json["model_version"] == "kw-0"
        assert [r["result"][0]["value"]["choices"][0] for r in results] == [keyword_label(r["text"]) for r in rows]
        assert all(r["model_version"] == "kw-0" and r["score"] == 0.75 for r in results)
        assert [len(body["tasks"]) for m, p, _, body in backend.calls if p == "/predict"] == [100, 30]

        task_ids = import_texts(api, project_id, rows[:5])
        complete_rows(api, project_id, task_ids, rows)
        pump.drain()
        assert backend.trained == 1
        sent = backend.train_bodies[0]
        assert sent["action"] == "START_TRAINING" and sent["project"]["label_config"] == SMS_LABEL_CONFIG
        state = training(api, project_id)
        assert state["state"] == "idle" and state["last_error"] is None
        again = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "WIN a free prize"}]}).json
        assert again["model_version"] == "kw-1" and again["results"][0]["model_version"] == "kw-1"


def test_an_old_backend_untrained_then_trained_through_legacy_train(api, pump):
    rows = balanced_rows(6, seed=12)
    with serving(FakeMLBackend(style="old", batch=False)) as backend:
        project_id = make_project(api, min_completions=4, **custom(backend.url))  # /setup 404 = untrained
        first = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": r["text"]} for r in rows[:3]]}).json
        # one result for a batch of three: re-sent one by one, as Label Studio does
        assert [len(b["tasks"]) for m, p, _, b in backend.calls if p == "/predict"] == [3, 1, 1, 1]
        # /setup said 404 (untrained), the answer's top-level model_version names its predictions
        assert first["model_version"] == "kw-0"
        assert all(r["model_version"] == "kw-0" and r["result"] for r in first["results"])

        task_ids = import_texts(api, project_id, rows[:4])
        complete_rows(api, project_id, task_ids, rows)
        pump.drain()
        assert backend.trained == 1
        body = backend.train_bodies[0]
        assert len(body["completions"]) == 4 and len(body["annotations"]) == 4
        assert body["completions"][0]["completions"][0]["result"][0]["type"] == "choices"
        after = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "hello"}]}).json
        assert after["model_version"] == "kw-1" and after["results"][0]["model_version"] == "kw-1"


def test_a_backend_that_goes_down_is_a_502_and_training_is_retried(api, pump):
    backend = FakeMLBackend()
    with serving(backend):
        project_id = make_project(api, min_completions=2, **custom(backend.url))
    answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "hi"}]})
    assert answer.status_code == 502 and answer.json["Code"] == "BadGatewayError"
    rows = balanced_rows(2, seed=13)
    complete_rows(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    state = training(api, project_id)
    assert "custom backend" in (state["last_error"] or ""), state


def test_a_label_studio_project_served_by_a_custom_backend_keeps_one_version(api):
    from tests.functional.test_labelstudio_backend import BASIC, setup_sms

    with serving(FakeMLBackend()) as backend:
        setup_sms(api)
        project_id = api.get("/api/projects").json["projects"][0]["id"]
        assert api.put(f"/api/projects/{project_id}/ml", custom(backend.url)).status_code == 200
        assert setup_sms(api) == {"model_version": "kw-0"}
        answer = api.post("/ls/predict", {"tasks": [{"id": 5, "data": {"text": "free prize"}}],
                                          "project": "7.1700000000"}, headers=BASIC).json
        assert answer["model_version"] == "kw-0" and answer["results"][0]["model_version"] == "kw-0"
        assert answer["results"][0]["result"][0]["value"]["choices"] == ["spam"]
