"""Training failures stay visible, keep the previous model serving, and recover on retry."""
import dataclasses

import pytest
from botocore.exceptions import ClientError

from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db
from chalicelib.store.aws import client
from tests.functional.helpers import (
    balanced_rows, complete, complete_rows, import_texts, make_project, training)


def trained_project(api, pump, n=24, min_completions=20):
    rows = balanced_rows(60)
    project_id = make_project(api, min_completions=min_completions, agreement_threshold=0.6, retrain_every=5)
    task_ids = import_texts(api, project_id, rows)
    complete_rows(api, project_id, task_ids[:n], rows[:n])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    return project_id, task_ids, rows


def predict_one(api, project_id):
    return api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "WIN a FREE prize, call now"}]})


def test_a_single_class_fails_clearly_and_is_not_retried(api, pump):
    project_id = make_project(api, min_completions=3)
    task_ids = import_texts(api, project_id, [{"text": f"hello {i}"} for i in range(3)])
    for task_id in task_ids:
        complete(api, project_id, task_id, "ham")
    pump.drain()
    state = training(api, project_id)
    assert state["state"] == "failed" and "2 distinct labels" in state["last_error"]
    assert state["model_version"] is None
    assert pump.delivered["train_worker"] == 1


def test_s3_failure_mid_training_keeps_the_old_model_and_recovers(api, pump):
    project_id, task_ids, rows = trained_project(api, pump)
    s3 = client("s3")
    failures = {"left": 1}

    def fail_put(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected S3 failure"}}, "PutObject")

    s3.meta.events.register("before-call.s3.PutObject", fail_put)
    try:
        complete_rows(api, project_id, task_ids[24:29], rows[24:29])
        # poll until the worker's first attempt has failed on S3
        for _ in range(10):
            pump.poll_once()
            state = training(api, project_id)
            if state["state"] == "failed":
                break
        assert state["state"] == "failed" and "injected S3 failure" in state["last_error"], state
        assert state["model_version"] == "v1"
        assert predict_one(api, project_id).json["results"][0]["model_version"] == "v1"
        # SQS redelivers the message; the retry succeeds
        pump.drain()
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", fail_put)
    state = training(api, project_id)
    assert state["state"] == "idle" and state["last_error"] is None
    assert state["model_version"] != "v1"
    assert predict_one(api, project_id).json["results"][0]["model_version"] == state["model_version"]
    assert state["completions"] == 29 and state["accepted_tasks"] == 29


def test_crash_between_artifact_and_promotion_recovers_on_redelivery(api, pump, monkeypatch):
    project_id, task_ids, rows = trained_project(api, pump)
    calls = {"n": 0}
    real_promote = training_db.promote

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker crashed after writing the artifact")
        return real_promote(*args, **kwargs)

    monkeypatch.setattr(training_db, "promote", crash_once)
    complete_rows(api, project_id, task_ids[24:29], rows[24:29])
    pump.drain()
    state = training(api, project_id)
    assert calls["n"] == 2 and state["state"] == "idle"
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    active = [v["model_version"] for v in versions if v["active"]]
    assert active == [state["model_version"]] and state["model_version"] not in ("v1", "v2")
    assert state["completions"] == 29


def test_a_rescoring_not_queued_after_the_promotion_is_queued_by_the_redelivery(api, pump, monkeypatch):
    """The pointer and the request's end are one write: a worker that stops before the rescoring is
    queued leaves a finished request, and its redelivered message queues the rescoring."""
    from chalicelib.services import rescoring

    project_id, task_ids, rows = trained_project(api, pump)
    calls = {"n": 0}
    real_start = rescoring.start

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker crashed before queuing the rescoring")
        return real_start(*args, **kwargs)

    monkeypatch.setattr(rescoring, "start", crash_once)
    complete_rows(api, project_id, task_ids[24:29], rows[24:29])
    pump.drain()
    state = training(api, project_id)
    assert calls["n"] == 2 and state["state"] == "idle" and state["last_error"] is None, state
    jobs = {job["id"]: job for job in api.get(f"/api/projects/{project_id}/jobs").json["jobs"]}
    pass_ = next(job for job in jobs.values() if job["model_version"] == state["model_version"]
                 and job["kind"] != "training")
    assert pass_["state"] == "succeeded", pass_
    pump.drain()
    assert calls["n"] == 2  # the redelivery queued it once


def test_a_stale_training_never_replaces_a_newer_model(api, pump):
    project_id, _, _ = trained_project(api, pump)
    project = project_db.get_project(project_id, consistent=True)
    old = training_db.get_model_version(project_id, 1)
    newer = dataclasses.replace(old, version=5, model_version="v5")
    assert training_db.promote(project_id, newer) is True
    assert training_db.promote(project_id, old) is False
    assert project_db.get_project(project_id, consistent=True).model_version == "v5"
    assert project.model_version == "v1"


def test_a_tampered_artifact_is_refused(api, pump):
    project_id, _, _ = trained_project(api, pump)
    from chalicelib.ml import serving

    serving.clear_cache()
    project = project_db.get_project(project_id, consistent=True)
    bucket = project.model.bucket
    # an attacker with write access can only add a new version; point the record at it
    forged = client("s3").put_object(Bucket=bucket, Key=project.model.key, Body=b"not the model")
    project_db.update_project(project_id, model_s3_version=forged["VersionId"])
    answer = predict_one(api, project_id)
    assert answer.status_code == 500 and answer.json["Code"] == "ArtifactIntegrityError"
    assert "sha256" in answer.json["Message"]


def test_schedule_retrains_when_labels_are_newer_than_the_model(api, pump):
    rows = balanced_rows(40)
    project_id = make_project(api, min_completions=20, retrain_every=100)
    task_ids = import_texts(api, project_id, rows)
    complete_rows(api, project_id, task_ids[:22], rows[:22])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    pump.fire_schedules()
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"  # nothing new: no retraining
    complete_rows(api, project_id, task_ids[22:25], rows[22:25])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"  # under retrain_every
    pump.fire_schedules()
    pump.drain()
    assert training(api, project_id)["model_version"] == "v2"
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    assert versions[0]["n_train"] == 25


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY", "REMOVE"])
def test_stream_records_of_a_deleted_project_are_ignored(api, pump, event_name):
    project_id = make_project(api)
    import_texts(api, project_id, [{"text": "x"}])
    assert api.delete(f"/api/projects/{project_id}").status_code == 200
    record = {"eventID": "1", "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
              "awsRegion": "us-east-1", "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
              "dynamodb": {"ApproximateCreationDateTime": 1.0, "SequenceNumber": "1", "SizeBytes": 1,
                           "StreamViewType": "NEW_AND_OLD_IMAGES",
                           "Keys": {"project_id": {"S": project_id}, "completion_id": {"S": "1.1"}}}}
    assert pump.invoke("on_completion", {"Records": [record]}) == {"batchItemFailures": []}


def test_a_training_killed_mid_run_spends_no_version_number(api, pump):
    """Issue 26, item 9: the worker claimed the request and died; the message comes back, the retry
    claims the same request again and keeps its number: the first version is v1."""
    project_id = make_project(api, min_completions=20)
    rows = balanced_rows(24)
    task_ids = import_texts(api, project_id, rows)
    with pump.holding("train_worker"):
        complete_rows(api, project_id, task_ids, rows)
        pump.drain()
    seq = project_db.get_project(project_id, consistent=True).counters.train_request_seq
    assert training_db.claim_training(project_id, seq) is not None  # the killed worker's claim
    pump.drain()
    state = training(api, project_id)
    assert state["model_version"] == "v1" and state["state"] == "idle", state
