"""Rescoring the pool after a promotion: SQS fan-out under moto, redelivery, and what /next serves."""
from chalicelib.services import rescoring
from chalicelib.store.models import TaskModel
from tests.conftest import ADMIN
from tests.functional.helpers import (
    balanced_rows, complete_rows, import_texts, label_both_classes, make_project, training)


def scores(project_id):
    return {int(t.task_id): (t.priority, t.score_version, t.scored_project)
            for t in TaskModel.query(project_id)}


def text_project_with_v1(api, pump, sampling, n_rows):
    """A text project of `n_rows` balanced SMS rows whose v1 is trained on 5 spam + 5 ham (and so
    has rescored its pool): (project id, row of each task id - 1)."""
    project_id = make_project(api, min_completions=10, retrain_every=1000, sampling=sampling)
    rows = balanced_rows(n_rows)
    label_both_classes(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    return project_id, rows


def test_split_covers_the_range_with_chunk_aligned_parts():
    parts = rescoring.split(1, 100_000, 500)
    assert len(parts) == 10 and parts[0] == (1, 10_000) and parts[-1] == (90_001, 100_000)
    assert rescoring.split(1, 1_000, 500) == [(1, 500), (501, 1_000)]
    assert rescoring.split(1, 1_234, 500) == [(1, 500), (501, 1_000), (1_001, 1_234)]


def test_promotion_rescores_the_pool_through_the_fan_out(api, pump, monkeypatch):
    monkeypatch.setenv(rescoring.CHUNK_ENV, "40")
    project_id, rows = text_project_with_v1(api, pump, "margin", 300)

    # 300 ids in chunks of 40: the root message splits into 8 leaves
    assert pump.delivered["rescore_worker"] == 1 + 8
    stored = scores(project_id)
    unlabeled = [i for i, (_, version, _) in stored.items() if version is not None]
    assert len(unlabeled) == 290 and all(stored[i][2] == project_id for i in unlabeled)

    # the stored priority is the margin of the promoted model's prediction
    sample = sorted(unlabeled)[:20]
    answer = api.post(f"/api/projects/{project_id}/predict",
                      {"tasks": [{"data": {"text": rows[i - 1]["text"]}} for i in sample]}).json
    for task_id, result in zip(sample, answer["results"]):
        assert abs(stored[task_id][0] - (2 * result["score"] - 1)) < 1e-6

    # past the first batch, next serves the most ambiguous task
    best = min(unlabeled, key=lambda i: stored[i][0])
    assert api.get(f"/api/projects/{project_id}/next?annotator=bob").json["id"] == best

    # redelivering every rescore message changes nothing
    before = scores(project_id)
    for batch in pump.delivered_sqs_batches:
        if "rescore" in batch["Records"][0]["eventSourceARN"]:
            pump.invoke("rescore_worker", batch)
    pump.drain()
    assert scores(project_id) == before

    # a message for a version that is no longer active does nothing
    assert rescoring.handle_request(project_id, 0, 1, 40, 40) == "skipped:superseded"
    # ... and ends its job as superseded, not failed
    from chalicelib.store import jobs

    jobs.start(project_id, "rescoring-v0", "rescoring", 40, "v0")
    assert rescoring.handle_request(project_id, 0, 1, 40, 40, job="rescoring-v0") == "skipped:superseded"
    assert api.get(f"/api/projects/{project_id}/jobs/rescoring-v0").json["state"] == "superseded"

    # the label-savings report: each version against its labels, and the estimate with its basis
    body = api.get(f"/api/projects/{project_id}/report").json
    assert [(p["model_version"], p["labels"], p["active"]) for p in body["curve"]] == [("v1", 10, True)]
    point = body["curve"][0]
    # 10 labels (5 per class): the evaluation may find too few to hold any out, then it says so
    if point["evaluation"].startswith("none"):
        assert point["accuracy"] is None
    else:
        assert 0 <= point["accuracy"] <= 1 and point["evaluation"].startswith(("cross-validation", "holdout"))
    estimate = body["estimated_savings"]
    assert estimate["labels_used"] == 10 and estimate["random_would_need"] > 10
    assert "bench/results" in estimate["basis"]
    assert api.get("/api/projects/999/report").status_code == 404
    png = api.get(f"/api/projects/{project_id}/report.png", headers={**ADMIN, "Accept": "image/png"})
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.get("/api/projects/999/report.png", headers={**ADMIN, "Accept": "image/png"}).status_code == 404


def test_random_strategy_does_not_rescore(api, pump):
    project_id = make_project(api, min_completions=10, sampling="random", preannotate=False)
    rows = balanced_rows(40)
    ids = import_texts(api, project_id, rows)
    complete_rows(api, project_id, ids[:12], rows[:12])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    assert pump.delivered["rescore_worker"] == 0
    # pre-annotating (the default) goes through the fan-out but writes predictions, not scores
    assert api.put(f"/api/projects/{project_id}/ml", {"preannotate": True}).status_code == 200
    assert api.post(f"/api/projects/{project_id}/predictions").status_code == 202
    pump.drain()
    assert pump.delivered["rescore_worker"] == 1
    assert all(version is None for _, version, _ in scores(project_id).values())
    stored = [t.preannotation for t in TaskModel.query(project_id) if t.preannotation]
    assert len(stored) == 28 and {p["model_version"] for p in stored} == {"v1"}



def test_auto_serves_a_tabular_digits_project_from_the_scored_queue(api, pump):
    """The default strategy on the tabular kind: after the random first batch trains v1, every
    unlabeled task is rescored and `next` serves the lowest stored priority, which `auto` puts on the
    diverse-margin candidates (10 clusters x 10 smallest margins) before every other task."""
    from sklearn.datasets import load_digits

    from chalicelib.ml import sampling

    assert sampling.resolve("auto") == "diverse_margin"
    config = ('<View><Table name="x" value="$x"/><Choices name="digit" toName="x">'
              + "".join(f'<Choice value="{d}"/>' for d in range(10)) + "</Choices></View>")
    answer = api.post("/api/projects", {"title": "digits", "label_config": config,
                                        "ml": {"min_completions": 20, "retrain_every": 1000}})
    assert answer.status_code == 201, answer.json
    project_id = answer.json["id"]
    assert api.get(f"/api/projects/{project_id}/ml").json["sampling"] == "auto"
    pixels, digits = load_digits(return_X_y=True)
    answer = api.post(f"/api/projects/{project_id}/tasks",
                      [{"data": {"x": {f"p{i}": int(v) for i, v in enumerate(row)}}} for row in pixels[:300]])
    assert answer.status_code == 201, answer.json
    label = {int(task_id): str(digit) for task_id, digit in zip(answer.json["task_ids"], digits[:300])}

    def label_next():
        task = api.get(f"/api/projects/{project_id}/next?annotator=alice").json
        result = [{"from_name": "digit", "to_name": "x", "type": "choices",
                   "value": {"choices": [label[int(task["id"])]]}}]
        posted = api.post(f"/api/projects/{project_id}/tasks/{task['id']}/completions",
                          {"result": result, "completed_by": "alice"})
        assert posted.status_code == 201, posted.json
        return int(task["id"])

    for _ in range(20):
        label_next()
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"

    stored = scores(project_id)
    unlabeled = {i: priority for i, (priority, version, _) in stored.items() if version is not None}
    assert len(unlabeled) == 280
    ranked = sorted(unlabeled.values())
    # one task of each of the 10 clusters first (rank 0 + margin < 1: the candidate nearest its centre), and the 100
    # candidates (rank in cluster + margin < max rank + 1) more than 1 below the 180 others
    assert sum(p < 1 for p in ranked) == 10
    assert ranked[100] > ranked[99] + 1
    for _ in range(10):  # no retraining yet: each call serves the best-ranked task still unlabeled
        best = min(unlabeled, key=unlabeled.get)
        assert label_next() == best
        del unlabeled[best]


def test_badge_ranks_its_picks_first_on_a_text_project(api, pump):
    """`badge` through the product: the rescoring passes the TF-IDF features (sparse) and stores the
    k-means++ picks as priorities 0..99, ahead of every other task, which `next` then serves."""
    project_id, _ = text_project_with_v1(api, pump, "badge", 160)
    stored = {i: priority for i, (priority, version, _) in scores(project_id).items() if version is not None}
    assert len(stored) == 150
    ranked = sorted(stored.values())
    assert ranked[:100] == list(range(100)) and ranked[100] > 100  # picks in order, then the rest
    first = min(stored, key=stored.get)
    assert api.get(f"/api/projects/{project_id}/next?annotator=bob").json["id"] == first


def test_a_move_by_hand_supersedes_the_pass_of_the_version_it_replaces(api, pump, monkeypatch):
    """A rollback while the promoted version's pass waits on the queue: that pass ends as
    superseded at once (not failed), its leaves skip, and the move's own pass completes."""
    monkeypatch.setenv(rescoring.CHUNK_ENV, "20")
    project_id = make_project(api, min_completions=10, retrain_every=100_000, promotion="always")
    rows = balanced_rows(40)
    label_both_classes(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()

    def passes(version):
        listed = api.get(f"/api/projects/{project_id}/jobs").json["jobs"]
        return {j["id"]: j["state"] for j in listed if j["model_version"] == version and j["kind"] != "training"}

    with pump.holding("rescore_worker"):
        assert api.post(f"/api/projects/{project_id}/train").status_code == 202
        pump.drain()
        assert training(api, project_id)["model_version"] == "v2"
        assert set(passes("v2").values()) == {"running"}
        answer = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
        assert answer.status_code == 200 and answer.json["preannotation_job"] == "preannotation-v1-a1", answer.json
        assert set(passes("v2").values()) == {"superseded"}
    pump.drain()
    assert set(passes("v2").values()) == {"superseded"}
    assert passes("v1")["preannotation-v1-a1"] == "succeeded"
