"""Imports by Idempotency-Key (issue 26, item 1): a retry with the same key answers the first
import's result, or finishes an import that died part-way (annotations included), never a copy."""
import pytest

from chalicelib.store import import_records
from tests.conftest import ADMIN
from tests.faults import FaultInjector
from tests.functional.helpers import make_project, training
from tests.functional.test_faults import THROTTLED, annotated_import, batch_writes


@pytest.fixture
def faults():
    with FaultInjector() as injector:
        yield injector


def keyed(key):
    return {**ADMIN, "Idempotency-Key": key}


def stored(api, project_id):
    return sorted(int(t["id"]) for t in api.get(f"/api/projects/{project_id}/tasks?limit=1000").json["tasks"])


def test_the_same_key_answers_the_first_import_and_writes_nothing_more(api, pump):
    project_id = make_project(api, min_completions=100)
    tasks = annotated_import(30)
    first = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("k-1"))
    assert first.status_code == 201 and first.json["count"] == 30, first.json
    again = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("k-1"))
    assert (again.status_code, again.json) == (201, first.json)
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = api.post(f"/api/projects/{project_id}/tasks", tasks[:1], headers=keyed("k-1"))
    assert other.status_code == 422 and other.json["Field"] == "Idempotency-Key", other.json
    bad = api.post(f"/api/projects/{project_id}/tasks", tasks[:1], headers=keyed("a b/ü"))
    assert bad.status_code == 422 and bad.json["Field"] == "Idempotency-Key", bad.json
    pump.drain()
    assert stored(api, project_id) == [int(i) for i in first.json["task_ids"]]
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (30, 30)
    record = api.get(f"/api/projects/{project_id}/imports/k-1").json
    assert (record["state"], record["task_ids"], record["writing"]) == ("done", first.json["task_ids"], False)
    assert api.get(f"/api/projects/{project_id}/imports/k-2").status_code == 404


def test_an_import_that_failed_part_way_is_finished_by_its_retry(api, pump, faults):
    project_id = make_project(api, min_completions=100)
    tasks = annotated_import(60)  # 3 batches of tasks, then 3 of completions
    failure = faults.inject("dynamodb", "BatchWriteItem", code=THROTTLED, skip=4, when=batch_writes("-"))
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("half"))
    assert failure.fired == 1 and answer.status_code == 503, answer.json
    assert "same Idempotency-Key" in answer.json["Message"]
    record = api.get(f"/api/projects/{project_id}/imports/half").json
    assert (record["state"], record["writing"], record["task_ids"]) == ("importing", False, None), record
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("half"))
    assert answer.status_code == 201 and answer.json["count"] == 60, answer.json
    pump.drain()
    assert stored(api, project_id) == [int(i) for i in answer.json["task_ids"]] == list(range(1, 61))
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (60, 60)
    for task in api.get(f"/api/projects/{project_id}/tasks?limit=100").json["tasks"]:
        assert task["total_annotations"] == 1, task


class Killed(BaseException):
    """A process killed mid-write: nothing of ours runs after it (no clean-up, no lease given up)."""


def test_a_request_killed_mid_import_is_finished_by_its_retry_once_its_lease_lapsed(api, pump, faults,
                                                                                     monkeypatch):
    project_id = make_project(api, min_completions=100)
    tasks = annotated_import(60)

    def kill(params):
        raise Killed()

    faults.inject("dynamodb", "BatchWriteItem", code=None, skip=3, action=kill, when=batch_writes("-"))
    with pytest.raises(Killed):
        api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("killed"))
    faults.clear()
    assert len(stored(api, project_id)) == 60  # the tasks, none of their annotations yet
    busy = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("killed"))
    assert busy.status_code == 409 and busy.json["Field"] == "Idempotency-Key", busy.json
    assert api.get(f"/api/projects/{project_id}/imports/killed").json["writing"] is True
    monkeypatch.setattr(import_records, "LEASE_SECONDS", 0)  # the dead request's lease has lapsed
    monkeypatch.setattr(import_records.time, "time", lambda real=import_records.time.time: real() + 60)
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks, headers=keyed("killed"))
    assert answer.status_code == 201 and answer.json["task_ids"] == [str(i) for i in range(1, 61)], answer.json
    pump.drain()
    assert stored(api, project_id) == list(range(1, 61))
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (60, 60)
