"""Injected AWS faults (tests/faults.py): for each, no completion is lost or counted twice, the
previous model keeps serving, the failure shows in /training, and a retry recovers.

S3 put failure, a crash between artifact and promotion and a tampered artifact are in
test_training_faults.py; duplicate train messages and replayed stream batches in test_exactly_once.py.
"""
import copy

import pytest

from chalicelib.events import completion_stream, schedule
from chalicelib.services import task_state
from tests.faults import FaultInjector, batch_writes, transact_touches, update_sets
from tests.functional.helpers import (
    balanced_rows, complete, complete_rows, import_texts, make_project, poll_until, snapshot, training)
from tests.functional.test_training_faults import predict_one, trained_project

THROTTLED = "ProvisionedThroughputExceededException"


@pytest.fixture
def faults():
    with FaultInjector() as injector:
        yield injector


def label_some(api, pump, n_tasks=14):
    """10 agreed tasks, one task with two disagreeing completions, one completion deleted.
    Ground truth: 12 completions, 10 accepted tasks."""
    rows = balanced_rows(n_tasks)
    project_id = make_project(api, min_completions=100, agreement_threshold=0.6)
    task_ids = import_texts(api, project_id, rows)
    complete_rows(api, project_id, task_ids[:10], rows[:10])
    complete(api, project_id, task_ids[10], "spam", "a")
    complete(api, project_id, task_ids[10], "ham", "b")
    deleted = complete(api, project_id, task_ids[11], "ham")
    assert api.delete(f"/api/projects/{project_id}/completions/{deleted['id']}").status_code == 200
    return project_id


def assert_ground_truth(api, pump, project_id):
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (12, 10), state
    assert pump.dead_letters == []
    before = snapshot(api, project_id)
    for batch in pump.delivered_stream_batches:  # and a replay of everything changes nothing
        pump.invoke("on_completion", copy.deepcopy(batch))
    assert snapshot(api, project_id) == before


def test_throttled_transactions_in_the_stream_handler_are_redelivered_and_counted_once(api, pump, faults):
    project_id = label_some(api, pump)
    first = faults.inject("dynamodb", "TransactWriteItems", code=THROTTLED, times=2)
    later = faults.inject("dynamodb", "TransactWriteItems", code=THROTTLED, times=2, skip=9)
    pump.drain()
    assert first.fired == 2 and later.fired == 2
    delivered = [r["dynamodb"]["SequenceNumber"] for b in pump.delivered_stream_batches for r in b["Records"]]
    assert len(delivered) > len(set(delivered))  # failed records were reported and redelivered
    assert_ground_truth(api, pump, project_id)


def test_a_lost_transaction_response_is_retried_without_double_counting(api, pump, faults):
    """The write happened but the answer timed out: the redelivered record finds its marker."""
    project_id = label_some(api, pump)
    lost = faults.inject("dynamodb", "TransactWriteItems", code="InternalServerError", status=500,
                         after=True, times=3, when=transact_touches("-ledger"))
    pump.drain()
    assert lost.fired == 3
    assert_ground_truth(api, pump, project_id)


def test_a_racing_writer_on_the_same_task_loses_the_condition_and_counts_once(api, pump, faults):
    """Another invocation re-judges the task between our read and our write (ConditionalCheckFailed)."""
    project_id = label_some(api, pump)
    settings = {"agreement_threshold": 0.6, "overlap": 1}

    def concurrent_rejudge(params):
        # the task's Update (the transaction also puts the record's count marker)
        update = next(i["Update"] for i in params["TransactItems"] if "-tasks" in i.get("Update", {}).get("TableName", ""))
        task_state.refresh_task(project_id, int(update["Key"]["task_id"]["N"]), settings)

    race = faults.inject("dynamodb", "TransactWriteItems", code=None, times=3,
                         when=transact_touches("-tasks"), action=concurrent_rejudge)
    pump.drain()
    assert race.fired == 3
    assert list(pump.errors) == []  # the condition failed, the handler re-read and moved on
    assert_ground_truth(api, pump, project_id)


def test_a_duplicate_delivery_racing_the_first_counts_once(api, pump, faults):
    """The same record handled by two invocations at once: only one marker put can win."""
    project_id = label_some(api, pump)

    def duplicate_delivery(params):
        put = next(i["Put"] for i in params["TransactItems"] if "Put" in i)
        completion_id, event = put["Item"]["sk"]["S"].split("#")[1:3]
        keys = {"project_id": {"S": project_id}, "completion_id": {"S": completion_id}}
        completion_stream.handle_record(event.upper(), keys)

    race = faults.inject("dynamodb", "TransactWriteItems", code=None, times=4,
                         when=transact_touches("-ledger"), action=duplicate_delivery)
    pump.drain()
    assert race.fired == 4
    assert_ground_truth(api, pump, project_id)


def test_sqs_send_failure_is_visible_and_the_redelivered_record_sends_it(api, pump, faults):
    project_id, task_ids, rows = trained_project(api, pump)
    send = faults.inject("sqs", "SendMessage", code="ServiceUnavailable", status=503, times=1)
    complete_rows(api, project_id, task_ids[24:29], rows[24:29])
    poll_until(pump, send)
    state = training(api, project_id)
    assert state["state"] == "queued" and "could not queue training request 2" in state["last_error"], state
    assert state["model_version"] == "v1"
    assert predict_one(api, project_id).json["results"][0]["model_version"] == "v1"
    pump.drain()  # the stream record that failed is redelivered and sends the pending request
    state = training(api, project_id)
    assert state["state"] == "idle" and state["last_error"] is None and state["model_version"] == "v2", state
    assert (state["completions"], state["accepted_tasks"]) == (29, 29)


def test_throttled_promotion_keeps_the_old_model_and_the_retry_promotes(api, pump, faults):
    project_id, task_ids, rows = trained_project(api, pump)
    promote = faults.inject("dynamodb", "UpdateItem", code=THROTTLED, times=1, when=update_sets("active_version"))
    complete_rows(api, project_id, task_ids[24:29], rows[24:29])
    poll_until(pump, promote)
    state = training(api, project_id)
    assert state["state"] == "failed" and THROTTLED in state["last_error"], state
    assert predict_one(api, project_id).json["results"][0]["model_version"] == "v1"
    pump.drain()
    state = training(api, project_id)
    assert state["state"] == "idle" and state["last_error"] is None, state
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    assert [v["model_version"] for v in versions if v["active"]] == [state["model_version"]]
    assert state["model_version"] == "v3"  # v2's artifact was written but never promoted; the retry made v3
    assert predict_one(api, project_id).json["results"][0]["model_version"] == "v3"
    assert (state["completions"], state["accepted_tasks"]) == (29, 29)


def annotated_import(n):
    rows = balanced_rows(n)
    result = [{"from_name": "label", "to_name": "text", "type": "choices"}]
    return [{"data": {"text": r["text"]}, "annotations": [{"result": [{**result[0], "value": {"choices": [r["label"]]}}],
                                                             "completed_by": "importer"}]} for r in rows]


def test_an_import_failing_half_way_is_rolled_back(api, pump, faults):
    project_id = make_project(api, min_completions=100)
    tasks = annotated_import(60)  # 3 batches of tasks, then 3 of completions
    failure = faults.inject("dynamodb", "BatchWriteItem", code=THROTTLED, skip=4, when=batch_writes("-"))
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks)
    assert failure.fired == 1
    assert answer.status_code == 503 and answer.json["Code"] == "ImportIncompleteError", answer.json
    assert answer.json["stored_task_ids"] == [] and "nothing is stored" in answer.json["Message"]
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/tasks").json["tasks"] == []
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (0, 0)
    # the retry stores everything once
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks)
    assert answer.status_code == 201 and answer.json["count"] == 60
    pump.drain()
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (60, 60)


def test_an_import_that_cannot_be_rolled_back_reports_exactly_what_is_stored(api, pump, faults):
    project_id = make_project(api, min_completions=100)
    failure = faults.inject("dynamodb", "BatchWriteItem", code=THROTTLED, skip=2, times=1000)
    answer = api.post(f"/api/projects/{project_id}/tasks", annotated_import(60))
    assert failure.fired >= 2  # the write and the clean-up both failed
    assert answer.status_code == 503, answer.json
    faults.clear()
    listed = [str(t["id"]) for t in api.get(f"/api/projects/{project_id}/tasks").json["tasks"]]
    assert answer.json["stored_task_ids"] == listed and len(listed) == 50, answer.json


def test_the_schedule_survives_a_failing_project_and_resends_next_time(api, pump, faults):
    """One project's SQS failure neither stops the sweep of the others nor loses its request."""
    rows = balanced_rows(8)
    projects = []
    for _ in range(2):
        project_id = make_project(api, min_completions=100, retrain_every=1000)
        complete_rows(api, project_id, import_texts(api, project_id, rows), rows)
        projects.append(project_id)
    pump.drain()
    for project_id in projects:  # now due, for the schedule only (the stream has gone quiet)
        assert api.put(f"/api/projects/{project_id}/ml", {"min_completions": 6}).status_code == 200
    send = faults.inject("sqs", "SendMessage", code="ServiceUnavailable", status=503, times=1)
    summary = schedule.run_schedule()
    assert send.fired == 1
    assert summary["failed"] == [projects[0]] and summary["requested"] == [projects[1]], summary
    state = training(api, projects[0])
    assert state["state"] == "queued" and "could not queue training request 1" in state["last_error"]
    summary = schedule.run_schedule()
    assert summary["resent"] == [projects[0]], summary
    pump.drain()
    assert [training(api, p)["model_version"] for p in projects] == ["v1", "v1"]
    assert [training(api, p)["completions"] for p in projects] == [8, 8]


def test_a_poison_record_is_set_aside_after_bounded_retries_and_replayed_later(api, pump, faults):
    """A record that keeps failing goes to the dead letters after 3 attempts; the shard moves on, and
    replaying the set-aside record once the fault is gone restores the exact counts."""
    project_id = make_project(api, min_completions=100)
    task_ids = import_texts(api, project_id, [{"text": f"t{i}"} for i in range(4)])
    poisoned = complete(api, project_id, task_ids[1], "spam")["id"]
    for task_id in (task_ids[0], task_ids[2], task_ids[3]):
        complete(api, project_id, task_id, "ham")
    stuck = faults.inject("dynamodb", "TransactWriteItems", code=THROTTLED, times=1000,
                          when=lambda params: f"c#{poisoned}#" in str(params))
    pump.drain()
    assert stuck.fired == pump.max_attempts
    [dead] = pump.dead_letters
    assert dead["record"]["dynamodb"]["Keys"]["completion_id"]["S"] == poisoned
    assert (training(api, project_id)["completions"], training(api, project_id)["accepted_tasks"]) == (3, 3)
    faults.clear()
    pump.invoke("on_completion", {"Records": [copy.deepcopy(dead["record"])]})  # redrive from the DLQ
    state = training(api, project_id)
    assert (state["completions"], state["accepted_tasks"]) == (4, 4)


def test_a_stream_record_given_up_on_shows_in_training_until_it_succeeds(api, pump, faults):
    """A poison record (here: every transaction of it refused as too large) is visible in
    /training's `errors` with its completion id, error and attempts, not only in a log; when it
    succeeds (replayed from the on-failure destination), the entry goes."""
    project_id = make_project(api, min_completions=100)
    [task_id] = import_texts(api, project_id, balanced_rows(1))
    completion = complete(api, project_id, task_id, "ham")
    poison = faults.inject("dynamodb", "TransactWriteItems", code="ValidationException", times=1000,
                           message="Item size has exceeded the maximum allowed size")
    pump.drain()
    [given_up] = pump.dead_letters
    [error] = training(api, project_id)["errors"]
    assert error["completion_id"] == completion["id"] and "Item size" in error["error"]
    assert error["attempts"] == poison.fired == pump.max_attempts
    faults.clear()
    pump.invoke("on_completion", {"Records": [given_up["record"]]})
    state = training(api, project_id)
    assert state["errors"] == [] and state["completions"] == 1
