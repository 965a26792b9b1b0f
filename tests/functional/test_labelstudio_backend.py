"""activelabel as a Label Studio ML backend: every /ls/ route under moto, with the request bodies
of Label Studio's own ML-backend tests (tests/fixtures/labelstudio/ml_backend_payloads)."""
import base64
import json

import boto3

from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion

from tests.conftest import ADMIN, load_fixture
from tests.functional.helpers import balanced_rows, training
from tests.functional.ls_fakes import FakeLabelStudio, serving

LS_PROJECT = "7.1700000000"


def basic(user="ls-user", password="ls-pass"):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


BASIC = basic()


def payload(name):
    return load_fixture("labelstudio", "ml_backend_payloads", name)


def setup_sms(api, key=LS_PROJECT, hostname=None, token=None):
    body = {"project": key, "schema": SMS_LABEL_CONFIG, "extra_params": None}
    if hostname:
        body.update(hostname=hostname, access_token=token)
    answer = api.post("/ls/setup", body, headers=BASIC)
    assert answer.status_code == 200, answer.json
    return answer.json


def annotation_event(ls_task_id, ann_id, text, label, action="ANNOTATION_CREATED", user=1):
    completion = choice_completion(label, "x")
    return {
        "action": action,
        "annotation": {"id": ann_id, "result": completion["result"], "was_cancelled": False,
                       "ground_truth": False, "lead_time": 3.2, "task": ls_task_id, "completed_by": user,
                       "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z"},
        "task": {"id": ls_task_id, "data": {"text": text}, "meta": {}, "project": 7, "is_labeled": True},
        "project": {"id": 7, "title": "sms", "label_config": SMS_LABEL_CONFIG},
    }


def linked_project_id(api):
    projects = api.get("/api/projects").json["projects"]
    assert len(projects) == 1
    return projects[0]["id"]


def test_auth_is_basic_per_connection_and_api_tokens_do_not_open_it(api):
    assert api.get("/ls/health", headers={}).status_code == 401
    assert api.get("/ls/health", headers=ADMIN).status_code == 401  # the API token is not a Basic credential
    assert api.get("/ls/health", headers=basic("ls-user", "wrong")).status_code == 401
    assert api.get("/ls/health", headers={"Authorization": "Basic !!!"}).status_code == 401
    health = api.get("/ls/health", headers=BASIC)
    assert health.status_code == 200 and health.json["status"] == "UP"
    assert api.get("/ls", headers=BASIC).json["status"] == "UP"
    # and Basic credentials do not open /api/
    assert api.get("/api/projects", headers=BASIC).status_code == 401


def test_project_credential_reaches_only_its_project(api):
    project_id = api.post("/api/projects", {"title": "t", "label_config": SMS_LABEL_CONFIG}).json["id"]
    other_id = api.post("/api/projects", {"title": "u", "label_config": SMS_LABEL_CONFIG}).json["id"]
    connection = api.get(f"/api/projects/{project_id}/labelstudio").json
    assert connection["basic_auth_user"] == f"project-{project_id}" and connection["url_path"] == "/ls/"
    creds = basic(connection["basic_auth_user"], connection["basic_auth_pass"])
    assert api.get("/ls/health", headers=creds).status_code == 200
    other = api.get(f"/api/projects/{other_id}/labelstudio").json
    assert api.get("/ls/health", headers=basic(f"project-{project_id}", other["basic_auth_pass"])).status_code == 401
    # its /setup links the Label Studio project to this project instead of creating one
    answer = api.post("/ls/setup", {"project": "3.1700000001", "schema": SMS_LABEL_CONFIG}, headers=creds)
    assert answer.json == {"model_version": "untrained"}
    assert len(api.get("/api/projects").json["projects"]) == 2


def test_setup_with_an_empty_config_answers_untrained_and_links_nothing(api):
    answer = api.post("/ls/setup", payload("core.setup.request.json"), headers=BASIC)
    assert answer.status_code == 200 and answer.json == {"model_version": "untrained"}
    assert api.get("/api/projects").json["projects"] == []


def test_setup_creates_the_project_once_and_stores_the_token_encrypted(api, aws):
    body = payload("core.setup.simple_text_classifier.request.json")
    first = api.post("/ls/setup", body, headers=BASIC)
    second = api.post("/ls/setup", body, headers=BASIC)
    assert first.status_code == second.status_code == 200
    assert first.json == second.json == {"model_version": "untrained"}
    project_id = linked_project_id(api)
    project = api.get(f"/api/projects/{project_id}").json
    assert project["label_config"] == body["schema"] and project["ml"]["model"] == "text_classifier"

    import boto3

    item = boto3.client("dynamodb").get_item(TableName=aws["ACTIVELABEL_PROJECTS_TABLE"],
                                             Key={"project_id": {"S": project_id}})["Item"]
    stored = json.dumps(item)
    assert body["access_token"] not in stored  # encrypted at rest
    assert "http://localhost:8080" in stored
    connection = api.get(f"/api/projects/{project_id}/labelstudio").json
    assert connection["linked"]["ls_project"] == "1.1654592272"
    assert body["access_token"] not in json.dumps(connection)


def test_setup_refuses_a_malformed_project_id(api):
    answer = api.post("/ls/setup", {"project": "abc", "schema": SMS_LABEL_CONFIG}, headers=BASIC)
    assert answer.status_code == 400 and answer.json["Field"] == "project"
    assert api.get("/api/projects").json["projects"] == []


def test_predict_without_a_model_answers_one_empty_result_per_task(api):
    for name in ("sklearn_text_classifier.predict.request.json", "bert_classifier.predict.request.json",
                 "flair.predict.request.json", "huggingface_ner.predict.request.json",
                 "spacy.predict.request.json", "core.predict.request.json"):
        body = payload(name)
        answer = api.post("/ls/predict", body, headers=BASIC)
        assert answer.status_code == 200, (name, answer.json)
        n = 1 if isinstance(body["tasks"], dict) else len(body["tasks"])
        assert answer.json["results"] == [{"result": [], "score": 0.0, "model_version": "untrained"}] * n
        assert answer.json["model_version"] == "untrained"


def test_webhooks_of_unlinked_projects_and_unknown_events_are_acknowledged(api):
    for name in ("core.webhook.request.json", "huggingface_ner.webhook.request.json",
                 "huggingface_ner.webhook_missing_annotation.request.json"):
        answer = api.post("/ls/webhook", payload(name), headers=BASIC)
        assert answer.status_code == 200 and answer.json["status"] == "ignored", (name, answer.json)
    answer = api.post("/ls/webhook", {"action": "PROJECT_UPDATED", "project": {"id": 1}}, headers=BASIC)
    assert answer.status_code == 200 and answer.json == {"status": "Unknown event"}
    assert api.post("/ls/webhook", {"action": "ANNOTATION_CREATED"}, headers={}).status_code == 401


def test_annotations_train_a_model_and_predictions_carry_the_setup_version(api, pump):
    setup_sms(api)
    project_id = linked_project_id(api)
    assert api.put(f"/api/projects/{project_id}/ml", {"min_completions": 12}).status_code == 200
    rows = balanced_rows(14, seed=3)
    for i, row in enumerate(rows[:12]):
        event = annotation_event(100 + i, 500 + i, row["text"], row["label"])
        answer = api.post("/ls/webhook", event, headers=BASIC)
        assert answer.status_code == 201, answer.json
        assert answer.json["completion"].endswith(f".ls{500 + i}")
    # redelivery and an unchanged update change nothing
    api.post("/ls/webhook", annotation_event(100, 500, rows[0]["text"], rows[0]["label"]), headers=BASIC)
    api.post("/ls/webhook", annotation_event(100, 500, rows[0]["text"], rows[0]["label"], "ANNOTATION_UPDATED"),
             headers=BASIC)
    pump.drain()
    state = training(api, project_id)
    assert state["completions"] == 12 and state["accepted_tasks"] == 12
    assert state["model_version"] == "v1", state
    assert pump.delivered["train_worker"] == 1

    assert setup_sms(api) == {"model_version": "v1"}
    tasks = [{"id": 900 + i, "data": {"text": r["text"]}} for i, r in enumerate(rows[12:])]
    tasks.append({"id": 999, "data": {"other": "no text key"}})
    answer = api.post("/ls/predict", {"tasks": tasks, "project": LS_PROJECT, "label_config": SMS_LABEL_CONFIG,
                                      "params": {"login": None, "password": None, "context": None}}, headers=BASIC)
    assert answer.status_code == 200, answer.json
    results = answer.json["results"]
    assert len(results) == 3 and all(r["model_version"] == "v1" for r in results)
    for result in results[:2]:
        assert result["result"][0]["value"]["choices"][0] in ("ham", "spam") and 0.5 <= result["score"] <= 1
    assert results[2]["result"] == []  # a task the config cannot read: empty, not a failed batch
    versions = api.get("/ls/versions", headers=BASIC).json
    assert versions["versions"] == ["v1"] and versions["current_version"] == "v1"

    # ANNOTATION_DELETED and ANNOTATIONS_DELETED remove the completions
    api.post("/ls/webhook", {"action": "ANNOTATION_DELETED", "annotation": {"id": 500}, "project": {"id": 7}},
             headers=BASIC)
    api.post("/ls/webhook", {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 501}, {"id": 502}],
                             "project": {"id": 7}}, headers=BASIC)
    pump.drain()
    assert training(api, project_id)["completions"] == 9
    export = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    assert sum(len(t["annotations"]) for t in export) == 9
    assert {t["meta"]["ls_task_id"] for t in export} == set(range(100, 112))


def test_start_training_pulls_annotations_from_the_label_studio_export(api, pump):
    """The webhook only queues the pull; the train worker reads the export, syncs it and trains."""
    rows = balanced_rows(10, seed=5)
    exported = [{"id": 40 + i, "data": {"text": r["text"]}, "predictions": [],
                 "annotations": [{"id": 80 + i, "completed_by": 1, "was_cancelled": False,
                                  "result": choice_completion(r["label"], "x")["result"]}]}
                for i, r in enumerate(rows)]
    exported.append({"id": 60, "data": {"wrong": "key"}, "annotations": []})  # skipped, counted
    unlabeled = balanced_rows(15, seed=6)[10:]
    exported += [{"id": 70 + i, "data": {"text": r["text"]}, "annotations": []} for i, r in enumerate(unlabeled)]
    fake = FakeLabelStudio("ls-token-123", {"7": exported})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token="ls-token-123")
        project_id = linked_project_id(api)
        api.put(f"/api/projects/{project_id}/ml", {"min_completions": 10})
        # one annotation already arrived by webhook: it is not written twice
        api.post("/ls/webhook", annotation_event(40, 80, rows[0]["text"], rows[0]["label"]), headers=BASIC)
        pump.drain()
        answer = api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7, "title": "sms"}},
                          headers=BASIC)
        assert answer.status_code == 201, answer.json
        assert answer.json["pull"] == "queued" and fake.paths("GET") == []  # nothing read in the request
        pump.drain()
        assert fake.paths("GET")[0] == "/api/projects/7/export?exportType=JSON&download_all_tasks=true"
        assert [p.split("&")[0] for p in fake.paths("GET")[1:]] == ["/api/tasks?project=7"]  # the push's check
        state = training(api, project_id)
        assert state["completions"] == 10 and state["model_version"] == "v1", state
        # v1's pre-annotation reached Label Studio through its predictions import: the unlabeled tasks
        assert sorted(p["task"] for p in fake.predictions) == [70, 71, 72, 73, 74]
        assert {p["model_version"] for p in fake.predictions} == {"v1"} and all(p["result"] for p in fake.predictions)
        # a redelivered pull writes nothing and trains nothing new; a redelivered leaf pushes nothing twice
        redelivered = [b for b in pump.delivered_sqs_batches if "pull_labelstudio" in b["Records"][0]["body"]]
        pump.invoke("train_worker", redelivered[0])
        for batch in pump.delivered_sqs_batches:
            if "rescore" in batch["Records"][0]["eventSourceARN"]:
                pump.invoke("rescore_worker", batch)
        pump.drain()
        assert len(fake.predictions) == 5
        # a redelivery between the push and its marker: Label Studio already holds these tasks' v1
        # predictions (read from its task list), so nothing is pushed twice; nor by a second v1 pass
        from chalicelib.store.models import LedgerModel

        for marker in LedgerModel.query(f"p#{project_id}", LedgerModel.sk.startswith("lspush#")):
            marker.delete()
        for batch in pump.delivered_sqs_batches:
            if "rescore" in batch["Records"][0]["eventSourceARN"]:
                pump.invoke("rescore_worker", batch)
        again = api.post(f"/api/projects/{project_id}/predictions")
        assert again.status_code == 202, again.json
        pump.drain()
        assert len(fake.predictions) == 5 and any(p.startswith("/api/tasks?") for p in fake.paths("GET"))
        second = api.get(f"/api/projects/{project_id}/jobs/{again.json['id']}").json
        assert (second["state"], second["predictions_stored"], second.get("predictions_pushed_to_labelstudio")) == \
            ("succeeded", 5, None), second
    state = training(api, project_id)
    assert state["completions"] == 10 and state["model_version"] == "v1", state
    listed = api.get(f"/api/projects/{project_id}/jobs").json["jobs"]
    pulls = [j for j in listed if j["kind"] == "labelstudio_pull"]
    assert len(pulls) == 1 and (pulls[0]["state"], pulls[0]["done"], pulls[0]["total"]) == ("succeeded", 16, 16)
    assert pulls[0]["detail"]["skipped"] == 1
    fanout = next(j for j in listed if j["kind"] == "rescoring+preannotation")
    assert (fanout["predictions_stored"], fanout["predictions_pushed_to_labelstudio"]) == (5, 5), fanout


def test_start_training_with_a_refused_token_is_recorded_and_not_retried(api, pump):
    fake = FakeLabelStudio("the-real-token", {"7": []})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token="an-old-token")
        answer = api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
        assert answer.status_code == 201 and answer.json["pull"] == "queued"
        pump.drain()
    assert len(fake.paths("GET")) == 1 and not pump.dead_letters
    assert "Label Studio export" in training(api, linked_project_id(api))["last_error"]
    job = api.get(f"/api/projects/{linked_project_id(api)}/jobs").json["jobs"][0]
    assert job["kind"] == "labelstudio_pull" and job["state"] == "failed" and "Label Studio export" in job["error"]


def test_a_refused_label_studio_hostname_is_not_stored_and_is_shown_in_training(api, pump, monkeypatch):
    """/setup checks the hostname with the outbound guard: a refused address is never pulled from,
    /training says why, and START_TRAINING trains from what the webhooks brought instead."""
    monkeypatch.setenv("ACTIVELABEL_OUTBOUND_ALLOW", "")  # loopback refused, as deployed
    setup_sms(api, hostname="http://127.0.0.1:9/", token="ls-token")
    project_id = linked_project_id(api)
    assert "hostname refused" in training(api, project_id)["last_error"]
    answer = api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
    assert answer.status_code == 201 and answer.json["pull"] is None, answer.json
    pump.drain()
    assert not pump.dead_letters


def test_a_pull_the_outbound_guard_refuses_is_recorded_and_not_retried(api, pump, monkeypatch):
    fake = FakeLabelStudio("ls-token-123", {"7": []})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token="ls-token-123")
        monkeypatch.setenv("ACTIVELABEL_OUTBOUND_ALLOW", "")  # the policy tightened after linking
        api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
        pump.drain()
    assert fake.paths("GET") == [] and not pump.dead_letters
    assert "Label Studio export refused" in training(api, linked_project_id(api))["last_error"]


def test_a_refused_webhook_annotation_leaves_no_task_behind(api, pump):
    setup_sms(api)
    project_id = linked_project_id(api)
    unknown_choice = annotation_event(41, 81, "new task", "ham")
    unknown_choice["annotation"]["result"][0]["value"]["choices"] = ["not-a-choice"]
    huge_name = annotation_event(42, 82, "another new task", "ham", user="x" * 300_000)
    for event, field in ((unknown_choice, "annotation.result"), (huge_name, "annotation.completed_by")):
        answer = api.post("/ls/webhook", event, headers=BASIC)
        assert answer.status_code == 400 and answer.json["Field"].startswith(field), answer.json
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/tasks").json["tasks"] == []


def test_start_training_while_label_studio_is_down_is_retried(api, pump):
    fake = FakeLabelStudio("ls-token-123", {"7": []})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token="ls-token-123")
    # the fake is stopped: connection refused
    api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
    pump.drain()
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="activelabel-local-train-dlq.fifo")["QueueUrl"]
    [dead] = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]  # tried 3 times, set aside
    assert "pull_labelstudio" in dead["Body"]
    assert "Label Studio export" in training(api, linked_project_id(api))["last_error"]


def test_legacy_train_accepts_annotations_and_completions(api, pump):
    setup_sms(api)
    project_id = linked_project_id(api)
    api.put(f"/api/projects/{project_id}/ml", {"min_completions": 8})
    rows = balanced_rows(8, seed=7)
    old = [{"id": 10 + i, "data": {"text": r["text"]},
            "completions": [{"id": 70 + i, "lead_time": 4.0, "result": choice_completion(r["label"], "x")["result"]}]}
           for i, r in enumerate(rows[:4])]
    new = [{"id": 20 + i, "data": {"text": r["text"]},
            "annotations": [{"id": 90 + i, "completed_by": 3, "result": choice_completion(r["label"], "x")["result"]}]}
           for i, r in enumerate(rows[4:])]
    first = api.post("/ls/train", {"completions": old, "project": LS_PROJECT, "label_config": SMS_LABEL_CONFIG},
                     headers=BASIC)
    second = api.post("/ls/train", {"annotations": new, "project": LS_PROJECT, "label_config": SMS_LABEL_CONFIG,
                                    "params": {}}, headers=BASIC)
    assert first.status_code == second.status_code == 201, (first.json, second.json)
    assert "job" in second.json and second.json["synced"]["written"] == 4
    empty = api.post("/ls/train", {"annotations": [], "project": LS_PROJECT}, headers=BASIC)
    assert empty.status_code == 400 and "No annotations found" in empty.json["Message"]
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    export = api.get(f"/api/projects/{project_id}/export?naming=completions").json["tasks"]
    assert sum(len(t["completions"]) for t in export) == 8


def test_every_ls_route_requires_basic_auth(api, chalice_app):
    checked = 0
    for path, methods in chalice_app.routes.items():
        if not (path == "/ls" or path.startswith("/ls/")):
            continue
        for method in methods:
            for headers in ({}, ADMIN, basic("ls-user", "nope"), basic("project-1", "ls-pass")):
                answer = api.call(method, path, body={}, headers=headers)
                assert answer.status_code == 401 and answer.json["Field"] == "Authorization", (method, path, headers)
            checked += 1
    assert checked == 7
