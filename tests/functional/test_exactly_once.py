"""At-least-once delivery: replayed stream batches and train messages change nothing."""
import copy

from tests.functional.helpers import (
    balanced_rows, complete, complete_rows, import_texts, make_project, snapshot, training)


def run_loop(api, pump, n_complete=24, min_completions=20):
    rows = balanced_rows(40)
    project_id = make_project(api, min_completions=min_completions, agreement_threshold=0.6, retrain_every=100)
    task_ids = import_texts(api, project_id, rows)
    complete_rows(api, project_id, task_ids[:n_complete], rows[:n_complete])
    # one disagreement and one deletion, so REMOVE and rejected tasks are replayed too
    complete(api, project_id, task_ids[30], "spam", "a")
    complete(api, project_id, task_ids[30], "ham", "b")
    deleted = complete(api, project_id, task_ids[31], "ham", "a")
    pump.drain()
    assert api.delete(f"/api/projects/{project_id}/completions/{deleted['id']}").status_code == 200
    pump.drain()
    return project_id, task_ids


def test_replaying_every_stream_batch_three_times_changes_nothing(api, pump):
    project_id, _ = run_loop(api, pump)
    before = snapshot(api, project_id)
    assert before["training"]["model_version"] == "v1"
    assert before["training"]["completions"] == 24 + 2  # the deleted one was counted back out
    assert before["training"]["accepted_tasks"] == 24
    batches = [copy.deepcopy(b) for b in pump.delivered_stream_batches]
    assert sum(len(b["Records"]) for b in batches) >= 28  # inserts + the remove
    trainings_before = pump.delivered["train_worker"]
    for _ in range(3):
        for batch in batches:
            assert pump.invoke("on_completion", copy.deepcopy(batch)) == {"batchItemFailures": []}
    pump.drain()
    assert snapshot(api, project_id) == before
    assert pump.delivered["train_worker"] == trainings_before


def test_a_train_message_delivered_twice_trains_once(api, pump):
    project_id, _ = run_loop(api, pump)
    [train_event] = [b for b in pump.delivered_sqs_batches if b["Records"]][:1]
    before = snapshot(api, project_id)
    answer = pump.invoke("train_worker", copy.deepcopy(train_event))
    assert answer == {"batchItemFailures": []}
    assert snapshot(api, project_id) == before
    assert len(before["versions"]) == 1


def test_completion_deleted_then_its_insert_replayed_stays_deleted(api, pump):
    project_id = make_project(api, min_completions=50)
    [task_id] = import_texts(api, project_id, [{"text": "free entry"}])
    completion = complete(api, project_id, task_id, "spam")
    pump.drain()
    insert_batches = [copy.deepcopy(b) for b in pump.delivered_stream_batches]
    api.delete(f"/api/projects/{project_id}/completions/{completion['id']}")
    pump.drain()
    for batch in insert_batches:
        pump.invoke("on_completion", copy.deepcopy(batch))
    state = training(api, project_id)
    assert state["completions"] == 0 and state["accepted_tasks"] == 0


def test_manual_train_request_is_idempotent_while_queued(api, pump):
    project_id, _ = run_loop(api, pump)
    first = api.post(f"/api/projects/{project_id}/train")
    second = api.post(f"/api/projects/{project_id}/train")
    assert first.status_code == second.status_code == 202
    assert first.json["request_seq"] == second.json["request_seq"] == 2
    pump.drain()
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    assert [v["model_version"] for v in versions] == ["v2", "v1"]
    assert [v["active"] for v in versions] == [True, False]
