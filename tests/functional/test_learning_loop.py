"""The whole loop under moto: API -> completions stream -> train queue -> worker -> S3 -> predict."""
from activelabel_client.datasets import sms_split

from tests.functional.helpers import complete, import_texts, make_project, training


def test_threshold_triggers_one_training_and_predict_serves_it(api, pump, monkeypatch):
    pool, test = sms_split(60, 10, seed=1)
    project_id = make_project(api, min_completions=20, agreement_threshold=0.6)
    task_ids = import_texts(api, project_id, pool)
    assert task_ids == [str(i) for i in range(1, 61)]

    assert api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": "hi"}}]}).status_code == 409

    for task_id, row in zip(task_ids[:19], pool[:19]):
        complete(api, project_id, task_id, row["label"])
    pump.drain()
    state = training(api, project_id)
    assert state["accepted_tasks"] == 19 and state["state"] == "idle" and state["model_version"] is None

    assert {"ham", "spam"} <= {row["label"] for row in pool[:25]}
    for task_id, row in zip(task_ids[19:25], pool[19:25]):
        complete(api, project_id, task_id, row["label"])
    pump.drain()

    state = training(api, project_id)
    assert state["state"] == "idle", state
    assert state["model_version"] == "v1"
    assert state["accepted_tasks"] == 25 and state["completions"] == 25
    assert pump.delivered["train_worker"] == 1  # exactly one training request

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

    samples = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": r["text"]} for r in test]}).json
    assert [r["result"][0]["value"] for r in samples["results"]] == [r["result"][0]["value"] for r in results]

    # Predict reads the project at most every ACTIVELABEL_WARM_CACHE_SECONDS per container
    # (store/warm.py). Writes through the repository drop the entry at once (the 409 -> v1 above); a
    # write from another container (here: the item updated behind the repository's back) shows once
    # the bound has passed. The clock is the cache's own.
    from chalicelib.store import warm
    from chalicelib.store.models import ProjectModel

    clock = [warm.time.monotonic() + 60.0]  # past the bound of what the calls above cached
    monkeypatch.setattr(warm.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("ACTIVELABEL_WARM_CACHE_SECONDS", "5")

    def served_version():
        answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "call now"}]})
        assert answer.status_code == 200, answer.json
        return answer.json["model_version"]

    assert served_version() == "v1"
    ProjectModel(project_id=project_id).update(actions=[ProjectModel.model_version.set("v1-elsewhere")])
    clock[0] += 4.9
    assert served_version() == "v1"
    clock[0] += 0.2
    assert served_version() == "v1-elsewhere"


def test_disagreeing_completions_are_not_accepted(api, pump):
    project_id = make_project(api, min_completions=5, agreement_threshold=0.6)
    task_ids = import_texts(api, project_id, [{"text": "free prize now"}, {"text": "see you at lunch"}])
    complete(api, project_id, task_ids[0], "spam", "a")
    complete(api, project_id, task_ids[0], "ham", "b")
    complete(api, project_id, task_ids[1], "ham", "a")
    pump.drain()
    state = training(api, project_id)
    assert state["accepted_tasks"] == 1 and state["completions"] == 3
    task = api.get(f"/api/projects/{project_id}/tasks/{task_ids[0]}").json
    assert task["agreement"] == 0.0 and task["is_labeled"] is False and len(task["annotations"]) == 2

    # a third annotator siding with "spam": 1/3 pairwise agreement, still under 0.6
    complete(api, project_id, task_ids[0], "spam", "c")
    pump.drain()
    task = api.get(f"/api/projects/{project_id}/tasks/{task_ids[0]}").json
    assert abs(task["agreement"] - 1 / 3) < 1e-6 and task["is_labeled"] is False


def test_overlap_waits_for_enough_completions(api, pump):
    project_id = make_project(api, min_completions=5, agreement_threshold=0.5, overlap=2)
    [task_id] = import_texts(api, project_id, [{"text": "free prize now"}])
    complete(api, project_id, task_id, "spam", "a")
    pump.drain()
    assert training(api, project_id)["accepted_tasks"] == 0
    complete(api, project_id, task_id, "spam", "b")
    pump.drain()
    assert training(api, project_id)["accepted_tasks"] == 1


def test_imported_annotations_count_like_posted_ones(api, pump):
    project_id = make_project(api, min_completions=50)
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["spam"]}}]
    answer = api.post(f"/api/projects/{project_id}/tasks", [
        {"data": {"text": "WIN cash"}, "annotations": [{"result": result, "completed_by": 3}]},
        {"data": {"text": "WIN more cash"}, "completions": [{"result": result}, {"result": result, "skipped": True}]},
        {"data": {"text": "lunch?"}},
    ])
    assert answer.status_code == 201, answer.json
    pump.drain()
    state = training(api, project_id)
    assert state["completions"] == 3 and state["accepted_tasks"] == 2
