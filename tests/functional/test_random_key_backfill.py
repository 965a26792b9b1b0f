"""Random-key backfill of tasks imported before `random_key` existed (services/migrations/random_keys.py).

Such tasks have neither `random_key` nor `pool_project`, so the sparse `pool` index misses them and
`GET /next` never serves them. The tests make tasks keyless as they were stored then.
"""
import json

import pytest

from chalicelib.events.rescoring import main as backfill_main
from chalicelib.services import rescoring
from chalicelib.services.migrations import random_keys
from chalicelib.store import queue
from chalicelib.store import tasks as task_db
from chalicelib.store.models import TaskModel
from tests.functional.helpers import (
    balanced_rows, complete, import_texts, label_both_classes, make_project, training)


def make_keyless(project_id, task_ids):
    for task_id in task_ids:
        TaskModel(project_id=project_id, task_id=task_id).update(
            actions=[TaskModel.random_key.remove(), TaskModel.pool_project.remove()])


def keys(project_id):
    return {int(t.task_id): t.random_key for t in TaskModel.query(project_id)}


def pool_ids(project_id):
    return {int(t.task_id) for t in TaskModel.pool_index.query(project_id)}


def redeliver_rescore_messages(pump):
    batches = [b for b in pump.delivered_sqs_batches if "rescore" in b["Records"][0]["eventSourceARN"]]
    for batch in batches:
        pump.invoke("rescore_worker", batch)
    pump.drain()
    return len(batches)


def test_backfill_keys_keyless_tasks_and_pools_the_unstarted_ones(api, pump, monkeypatch, capsys):
    monkeypatch.setenv(rescoring.CHUNK_ENV, "8")
    project_id = make_project(api, min_completions=50, sampling="random")
    ids = [int(i) for i in import_texts(api, project_id, balanced_rows(30))]
    complete(api, project_id, 1, "spam")
    pump.drain()
    make_keyless(project_id, range(1, 21))
    complete(api, project_id, 2, "ham")  # allocated, not yet judged by the stream: never back in the pool
    assert pool_ids(project_id) == set(range(21, 31))
    before = keys(project_id)

    assert rescoring.handle_request(project_id, 0, 1, 8, 8, mode="backfill") == "backfilled:8"
    assert backfill_main(["backfill", project_id]) == 0
    assert capsys.readouterr().out.strip() == f"{project_id} queued"
    pump.drain()

    after = keys(project_id)
    assert all(0 <= key < 1 for key in after.values())
    assert {i: after[i] for i in range(21, 31)} == {i: before[i] for i in range(21, 31)}  # keys are never rewritten
    assert pool_ids(project_id) == set(range(3, 31))  # 1 and 2 were started: keyed, out of the pool
    assert not pump.dead_letters
    # 30 ids in chunks of 8: a root that splits into 4 leaves
    assert pump.delivered["rescore_worker"] == 1 + 4

    # a task deleted after the chunk read it is not written back into existence
    assert task_db.backfill_random_key(project_id, 999, 0.5) is None
    assert task_db.find_task(project_id, 999) is None

    # redelivering every backfill message changes nothing
    assert redeliver_rescore_messages(pump) == 5
    assert keys(project_id) == after and pool_ids(project_id) == set(range(3, 31))

    # next serves every unstarted task, the backfilled ones included, each to one annotator
    served = [api.get(f"/api/projects/{project_id}/next?annotator=a{i}").json["id"] for i in range(28)]
    assert sorted(served) == ids[2:]
    assert api.get(f"/api/projects/{project_id}/next?annotator=late").status_code == 204


def test_backfill_of_a_sequential_project_keys_tasks_by_id(api, pump):
    project_id = make_project(api, min_completions=50, sampling="sequential")
    import_texts(api, project_id, balanced_rows(12))
    make_keyless(project_id, range(1, 13))
    assert random_keys.start(project_id, rescoring.chunk_size())
    pump.drain()
    assert keys(project_id) == {i: i for i in range(1, 13)}
    assert [api.get(f"/api/projects/{project_id}/next?annotator=a{i}").json["id"] for i in range(3)] == [1, 2, 3]


def test_rescoring_backfills_and_scores_keyless_tasks(api, pump, monkeypatch):
    monkeypatch.setenv(rescoring.CHUNK_ENV, "50")
    project_id = make_project(api, min_completions=10, retrain_every=1000, sampling="margin")
    rows = balanced_rows(120)
    ids = import_texts(api, project_id, rows)
    make_keyless(project_id, range(61, 121))
    served = [api.get(f"/api/projects/{project_id}/next?annotator=a{i}").json["id"] for i in range(10)]
    assert all(task_id <= 60 for task_id in served)  # keyless tasks are not served before the backfill
    label_both_classes(api, project_id, ids[:60], rows[:60])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"

    tasks = {int(t.task_id): t for t in TaskModel.query(project_id)}
    keyless = range(61, 121)
    assert all(tasks[i].random_key is not None and tasks[i].pool_project == project_id for i in keyless)
    assert all(tasks[i].score_version == 1 and tasks[i].scored_project == project_id for i in keyless)
    assert len(pool_ids(project_id)) == 110
    scored = {i: (t.priority, t.random_key) for i, t in tasks.items()}
    assert redeliver_rescore_messages(pump) == 1 + 3
    assert {int(t.task_id): (t.priority, t.random_key) for t in TaskModel.query(project_id)} == scored


def test_rescore_messages_carry_a_mode():
    body = {"project_id": "7", "version": 2, "first": 1, "last": 500, "chunk": 500}
    assert queue.parse_rescore_request(json.dumps(body))["mode"] == "rescore"  # sent before modes existed
    assert queue.parse_rescore_request(json.dumps({**body, "mode": "backfill"}))["mode"] == "backfill"
    with pytest.raises(ValueError):
        queue.parse_rescore_request(json.dumps({**body, "mode": "drop"}))
