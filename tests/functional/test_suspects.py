"""Suspect labels (issue 15 item 5): after a promotion, the suspects job flags the human label the
model confidently contradicts (out-of-fold probabilities + confident learning), lists it, stores the
probabilities in the model bucket, serves it first to an annotator who has not labelled it, and a
re-judging completion (or a later run that no longer flags it) takes it off the list."""
import json

from activelabel_client.datasets import choice_completion
from tests.functional.helpers import balanced_rows, complete, import_texts, make_project, training

N_LABELLED = 80
FLIPPED = 3  # rows[3] is spam (balanced_rows puts spam at every third row); people call it ham


def _suspects(api, project_id, **query):
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    answer = api.get(f"/api/projects/{project_id}/suspects" + (f"?{suffix}" if suffix else ""))
    assert answer.status_code == 200, answer.json
    return answer.json


def _project_with_a_flipped_label(api, pump):
    rows = balanced_rows(N_LABELLED + 10, seed=0)
    labelled = rows[:N_LABELLED]
    assert labelled[FLIPPED]["label"] == "spam"
    given = [("ham" if i == FLIPPED else r["label"]) for i, r in enumerate(labelled)]
    project_id = make_project(api, min_completions=N_LABELLED, sampling="random", promotion="always",
                              preannotate=False, retrain_every=100_000, agreement_threshold=0.6, suspects=True)
    answer = api.post(f"/api/projects/{project_id}/tasks", [
        {"data": {"text": r["text"]}, "annotations": [choice_completion(label, "ann")]}
        for r, label in zip(labelled, given)])
    assert answer.status_code == 201, answer.json
    ids = [int(t) for t in answer.json["task_ids"]]
    new_ids = [int(t) for t in import_texts(api, project_id, rows[N_LABELLED:])]
    pump.drain(timeout=300)  # 80 stream records, a training and the suspects job: a loaded machine is slow
    assert training(api, project_id)["model_version"] == "v1"
    return project_id, ids, new_ids, given


def test_a_flipped_label_is_flagged_served_first_and_leaves_after_a_rejudging_completion(api, pump):
    from chalicelib import config
    from chalicelib.store.aws import client

    project_id, ids, new_ids, given = _project_with_a_flipped_label(api, pump)
    flipped = ids[FLIPPED]

    listed = _suspects(api, project_id)
    assert [s["task_id"] for s in listed["suspects"]] == [flipped], listed
    suspect = listed["suspects"][0]
    assert suspect["human_label"] == "ham" and suspect["model_label"] == "spam" and suspect["model_version"] == "v1"
    assert suspect["score"] > suspect["self_confidence"] and listed["next"] is None
    assert training(api, project_id)["labels"] == {"human": N_LABELLED, "audited": 0, "suspect": 1}
    report = api.get(f"/api/projects/{project_id}/report").json["labels"]
    assert report == {"total": N_LABELLED + 10, "human": N_LABELLED, "auto": 0, "suspect": 1, "left": 10,
                      "audited": 0}

    # its own job, and the out-of-fold probabilities in the model bucket for the bench
    job = api.get(f"/api/projects/{project_id}/jobs/suspects-v1").json
    assert job["state"] == "succeeded" and job["detail"]["suspects"] == 1, job
    key = job["detail"]["out_of_fold"]["key"]
    assert key == f"models/{project_id}/v1/suspects-oof.json"
    oof = json.loads(client("s3").get_object(Bucket=config.model_bucket(), Key=key)["Body"].read())
    assert oof["task_ids"] == ids and oof["labels"] == given and oof["classes"] == ["ham", "spam"]
    assert len(oof["probabilities"]) == N_LABELLED and oof["folds"] == 5
    assert all(abs(sum(row) - 1) < 1e-3 for row in oof["probabilities"])
    row = oof["probabilities"][FLIPPED]
    assert row[1] > row[0]  # out of fold, the model calls the flipped task spam

    _a_later_run_clears_marks_it_no_longer_flags(api, project_id, ids)

    # redelivered: the finished job is not run again
    from chalicelib.events.rescoring import handle_message

    body = json.dumps({"project_id": project_id, "version": 1, "first": 0, "last": 0, "chunk": 1,
                       "mode": "suspects", "job": "suspects-v1"})
    assert handle_message(body) == "skipped:succeeded"

    # the annotator who labelled it is not served it: a new task
    own = api.get(f"/api/projects/{project_id}/next?annotator=ann")
    assert own.status_code == 200 and own.json["id"] in new_ids
    # anyone else gets the suspect before any new task
    other = api.get(f"/api/projects/{project_id}/next?annotator=bob")
    assert other.status_code == 200 and other.json["id"] == flipped

    complete(api, project_id, flipped, "spam", annotator="bob")
    pump.drain()
    assert _suspects(api, project_id)["suspects"] == []
    task = api.get(f"/api/projects/{project_id}/tasks/{flipped}").json
    # the review contradicts the flagged label: the task is judged on the review alone (overlap 1),
    # accepted as spam, and nobody is asked again
    assert task["total_annotations"] == 2 and task["is_labeled"] and task["agreement"] == 1.0, task
    from chalicelib.store import tasks as task_db

    assert task_db.get_task(project_id, flipped).consensus == {"label": ["spam"]}
    assert api.get(f"/api/projects/{project_id}/next?annotator=carol").json["id"] != flipped

    # turned off: the next promotion's job clears the marks standing, without computing anything
    from chalicelib.services import suspects
    from chalicelib.store import projects as project_db

    _mark_as_an_old_run_would(project_id, ids[0])
    assert api.put(f"/api/projects/{project_id}/ml", {"suspects": False}).status_code == 200
    assert suspects.start(project_db.get_project(project_id), 1) == "suspects-v1"  # the finished job: not re-run
    from chalicelib.store import jobs

    jobs.start(project_id, "suspects-v1-off", "suspects", 1, "v1")
    assert suspects.run(project_id, 1, "suspects-v1-off") == "cleared"
    assert _suspects(api, project_id)["suspects"] == []


def _mark_as_an_old_run_would(project_id, task_id):
    """An older run's (v0) mark on a clean task, written by the store as a run writes it."""
    from chalicelib.domain import assignment
    from chalicelib.store import suspects as suspects_db
    from chalicelib.store import tasks as task_db

    clean = task_db.find_task(project_id, task_id)
    queues = assignment.queues_of(1, True, float(clean.agreement), 1, True, False, suspect=True)
    assert suspects_db.mark(clean, {"model_label": "ham", "score": 0.9, "human_label": "spam",
                                    "self_confidence": 0.1, "control": "label", "model_version": "v0"}, 0, queues)


def _a_later_run_clears_marks_it_no_longer_flags(api, project_id, ids):
    """An older run's mark on a clean task goes when a run of the active version no longer flags it;
    pages of the list are bounded and ordered."""
    from chalicelib.services import suspects
    from chalicelib.store import jobs
    from chalicelib.store import tasks as task_db

    _mark_as_an_old_run_would(project_id, ids[0])
    assert {s["task_id"] for s in _suspects(api, project_id)["suspects"]} == {ids[0], ids[FLIPPED]}
    first = _suspects(api, project_id, limit=1)
    assert [s["task_id"] for s in first["suspects"]] == [ids[0]] and first["next"]  # least likely label first
    rest = _suspects(api, project_id, limit=1, cursor=first["next"])
    assert [s["task_id"] for s in rest["suspects"]] == [ids[FLIPPED]]
    assert "rework" in task_db.queues_of_task(task_db.find_task(project_id, ids[0]))

    jobs.start(project_id, "suspects-v1-again", "suspects", 1, "v1")
    assert suspects.run(project_id, 1, "suspects-v1-again") == "suspects:1"
    assert [s["task_id"] for s in _suspects(api, project_id)["suspects"]] == [ids[FLIPPED]]
    cleared = task_db.find_task(project_id, ids[0])
    assert cleared.suspect is None and "rework" not in task_db.queues_of_task(cleared)


def test_suspects_refuses_a_foreign_cursor_and_bad_limits_naming_the_field(api):
    from chalicelib.store.dynamo import encode_cursor

    project_id = make_project(api)
    other = make_project(api)
    assert _suspects(api, project_id) == {"suspects": [], "next": None}
    forged = encode_cursor({"project_id": {"S": other}, "task_id": {"N": "1"},
                            "suspect_project": {"S": other}, "suspect_rank": {"N": "0.1"}})
    for query, field in ((f"cursor={forged}", "cursor"), ("cursor=abc", "cursor"), ("limit=0", "limit")):
        answer = api.get(f"/api/projects/{project_id}/suspects?{query}")
        assert answer.status_code == 400 and answer.json["Field"] == field, (query, answer.json)
    assert api.put(f"/api/projects/{project_id}/ml", {"suspects": "yes"}).json["Field"] == "ml.suspects"


def test_the_flagged_annotator_cannot_clear_their_own_suspect_mark(api, pump):
    """Issue 26, item 5: deleting the flagged completion and posting the same label again is no
    review; the mark stays until someone else labels the task."""
    from chalicelib.domain import assignment
    from chalicelib.store import suspects as suspects_db
    from chalicelib.store import tasks as task_db

    project_id = make_project(api, min_completions=1000, agreement_threshold=0.6)
    answer = api.post(f"/api/projects/{project_id}/tasks",
                      [{"data": {"text": "WIN a prize"}, "annotations": [choice_completion("ham", "mallory")]}])
    task_id = int(answer.json["task_ids"][0])
    pump.drain()
    task = task_db.find_task(project_id, task_id)
    queues = assignment.queues_of(1, True, float(task.agreement), 1, True, False, suspect=True)
    assert suspects_db.mark(task, {"model_label": "spam", "score": 0.95, "human_label": "ham", "self_confidence": 0.05,
                                   "control": "label", "model_version": "v1", "annotators": sorted(task.annotators)},
                            1, queues)
    (completion,) = api.get(f"/api/projects/{project_id}/tasks/{task_id}/completions").json["completions"]
    assert api.delete(f"/api/projects/{project_id}/completions/{completion['id']}").status_code == 200
    pump.drain()
    assert [s["task_id"] for s in _suspects(api, project_id)["suspects"]] == [task_id]
    complete(api, project_id, task_id, "ham", annotator="mallory")
    pump.drain()
    assert [s["task_id"] for s in _suspects(api, project_id)["suspects"]] == [task_id]
    complete(api, project_id, task_id, "spam", annotator="bob")
    pump.drain()
    assert _suspects(api, project_id)["suspects"] == []
    task = api.get(f"/api/projects/{project_id}/tasks/{task_id}").json
    assert task["is_labeled"] and task_db.get_task(project_id, task_id).consensus == {"label": ["spam"]}, task
