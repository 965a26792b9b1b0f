"""The whole loop under moto: API -> completions stream -> train queue -> worker -> S3 -> predict."""
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_split


def make_project(api, **ml):
    answer = api.post("/api/projects", {"title": "sms", "label_config": SMS_LABEL_CONFIG, "ml": ml})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def import_texts(api, project_id, rows):
    answer = api.post(f"/api/projects/{project_id}/tasks", [{"data": {"text": r["text"]}} for r in rows])
    assert answer.status_code == 201, answer.json
    return answer.json["task_ids"]


def complete(api, project_id, task_id, label, annotator="ann-1"):
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", choice_completion(label, annotator))
    assert answer.status_code == 201, answer.json
    return answer.json


def test_threshold_triggers_one_training_and_predict_serves_it(api, pump):
    pool, test = sms_split(60, 10, seed=1)
    project_id = make_project(api, min_completions=20, agreement_threshold=0.6)
    task_ids = import_texts(api, project_id, pool)
    assert task_ids == [str(i) for i in range(1, 61)]

    assert api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": "hi"}}]}).status_code == 409

    for task_id, row in zip(task_ids[:19], pool[:19]):
        complete(api, project_id, task_id, row["label"])
    pump.drain()
    state = api.get(f"/api/projects/{project_id}/training").json
    assert state["accepted_tasks"] == 19 and state["state"] == "idle" and state["model_version"] is None

    # make sure both classes are present among the first 25
    labels = [row["label"] for row in pool[:25]]
    assert {"ham", "spam"} <= set(labels)
    for task_id, row in zip(task_ids[19:25], pool[19:25]):
        complete(api, project_id, task_id, row["label"])
    pump.drain()

    state = api.get(f"/api/projects/{project_id}/training").json
    assert state["state"] == "idle", state
    assert state["model_version"] == "v1"
    assert state["accepted_tasks"] == 25 and state["completions"] == 25

    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    assert len(versions) == 1 and versions[0]["active"] is True
    assert versions[0]["n_train"] >= 20 and 0 <= versions[0]["metrics"]["accuracy"] <= 1

    answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": r["text"]}} for r in test]})
    assert answer.status_code == 200, answer.json
    results = answer.json["results"]
    assert len(results) == len(test)
    for result in results:
        assert result["model_version"] == "v1"
        item = result["result"][0]
        assert item["from_name"] == "label" and item["to_name"] == "text" and item["type"] == "choices"
        assert item["value"]["choices"][0] in ("ham", "spam")
        assert 0.5 <= result["score"] <= 1.0


def test_disagreeing_completions_are_not_accepted(api, pump):
    project_id = make_project(api, min_completions=5, agreement_threshold=0.6)
    task_ids = import_texts(api, project_id, [{"text": "free prize now"}, {"text": "see you at lunch"}])
    complete(api, project_id, task_ids[0], "spam", "a")
    complete(api, project_id, task_ids[0], "ham", "b")
    complete(api, project_id, task_ids[1], "ham", "a")
    pump.drain()
    state = api.get(f"/api/projects/{project_id}/training").json
    assert state["accepted_tasks"] == 1 and state["completions"] == 3
    task = api.get(f"/api/projects/{project_id}/tasks/{task_ids[0]}").json
    assert task["agreement"] == 0.0 and task["is_labeled"] is False and len(task["annotations"]) == 2
