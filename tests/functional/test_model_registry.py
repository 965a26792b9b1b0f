"""Champion / challenger, rollback and pin: a version trained after a burst of bad labels, the
validation set it is judged on, and moving the active version by hand."""
import base64

from chalicelib.domain.validation_set import in_validation
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
from tests.functional.helpers import balanced_rows, make_project, training

FLIP = {"spam": "ham", "ham": "spam"}


def versions(api, project_id):
    return {v["model_version"]: v for v in api.get(f"/api/projects/{project_id}/model-versions").json["versions"]}


def train_now(api, pump, project_id):
    answer = api.post(f"/api/projects/{project_id}/train")
    assert answer.status_code == 202, answer.json
    pump.drain()


def annotated(rows, flip=False):
    return [{"data": {"text": r["text"]},
             "annotations": [choice_completion(FLIP[r["label"]] if flip else r["label"], "importer")]} for r in rows]


def project_with_clean_v1(api, pump, n_clean=100, **ml):
    """v1 trained on `n_clean` true labels (imported with the tasks), its validation share held out."""
    project_id = make_project(api, min_completions=n_clean, retrain_every=100_000, preannotate=False, **ml)
    answer = api.post(f"/api/projects/{project_id}/tasks", annotated(balanced_rows(n_clean)))
    assert answer.status_code == 201, answer.json
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"
    return project_id, answer.json["task_ids"]


def add_noisy_burst(api, pump, project_id, n, seed=1):
    """A burst of bad labels: `n` new tasks answered the opposite of the truth, on tasks outside the
    validation share (task ids are allocated in sequence, so the test knows them before importing).
    A burst that also reaches the share puts bad labels in the judge too; the gate can only catch it
    while the share's labels are mostly good (see docs/architecture.md)."""
    first = int(api.get(f"/api/projects/{project_id}").json["task_count"]) + 1
    rows = balanced_rows(n, seed=seed)
    tasks = [task if not in_validation(project_id, first + i) else {"data": task["data"]}
             for i, task in enumerate(annotated(rows, flip=True))]
    answer = api.post(f"/api/projects/{project_id}/tasks", tasks)
    assert answer.status_code == 201 and int(answer.json["task_ids"][0]) == first, answer.json
    pump.drain()


def predicted_version(api, project_id):
    answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "WIN a FREE prize, call now"}]})
    assert answer.status_code == 200, answer.json
    return answer.json["results"][0]["model_version"]


def ls_credentials(api, project_id):
    connection = api.get(f"/api/projects/{project_id}/labelstudio").json
    token = base64.b64encode(f"{connection['basic_auth_user']}:{connection['basic_auth_pass']}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def test_champion_challenger_rollback_and_pin(api, pump):
    project_id, ids = project_with_clean_v1(api, pump)
    v1 = versions(api, project_id)["v1"]
    assert v1["status"] == "promoted" and v1["validation"]["held_out"] is True
    held = [i for i in ids if in_validation(project_id, int(i))]
    # every human label trains the served model; the metrics are the judge's, fit without the validation set
    assert v1["validation"]["n"] == len(held) >= 10 and v1["n_train"] == 100
    assert v1["metrics"]["n_fit_judged"] == 100 - len(held) and v1["validation"]["served_fit"] == "all"
    assert "first model" in v1["decision"]["reason"]

    # a burst of bad labels: the version trained on it is worse on the validation set, and rejected
    add_noisy_burst(api, pump, project_id, 60)
    train_now(api, pump, project_id)
    v2 = versions(api, project_id)["v2"]
    comparison = v2["decision"]["comparison"]
    assert comparison["challenger_quality"] < comparison["champion_quality"]
    assert comparison["upper_bound_95"] < -comparison["tolerance"]
    assert v2["status"] == "rejected" and "worse by more than the tolerance" in v2["decision"]["reason"]
    assert (training(api, project_id)["model_version"], v2["active"]) == ("v1", False)
    assert predicted_version(api, project_id) == "v1"

    # the same labels under ml.promotion = always: promoted although worse
    assert api.put(f"/api/projects/{project_id}/ml", {"promotion": "always"}).status_code == 200
    train_now(api, pump, project_id)
    v3 = versions(api, project_id)["v3"]
    assert v3["status"] == "promoted" and "promoted anyway (ml.promotion = always)" in v3["decision"]["reason"]
    assert predicted_version(api, project_id) == "v3"

    # rollback: v1 serves at once; Label Studio's /setup and /versions report it
    ls = ls_credentials(api, project_id)
    assert api.post("/ls/setup", {"project": "5.1700000000", "schema": SMS_LABEL_CONFIG},
                    headers=ls).json == {"model_version": "v3"}
    answer = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
    assert answer.status_code == 200 and answer.json == {"model_version": "v1", "previous": "v3",
                                                         "pinned_version": None, "preannotation_job": None}, answer.json
    assert predicted_version(api, project_id) == "v1"
    assert api.post("/ls/setup", {"project": "5.1700000000", "schema": SMS_LABEL_CONFIG},
                    headers=ls).json == {"model_version": "v1"}
    assert api.get("/ls/versions", headers=ls).json["current_version"] == "v1"
    assert [v["model_version"] for v in versions(api, project_id).values() if v["active"]] == ["v1"]

    # a pinned project does not move: a new version is kept, "held"
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": 1}).status_code == 200
    train_now(api, pump, project_id)
    v4 = versions(api, project_id)["v4"]
    assert v4["status"] == "held" and "pinned to v1" in v4["decision"]["reason"]
    assert predicted_version(api, project_id) == "v1"
    # pinning another version activates it (and re-checks it); unpinning leaves it active
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": 4}).json["pinned_version"] == 4
    assert predicted_version(api, project_id) == "v4"
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": None}).status_code == 200
    assert predicted_version(api, project_id) == "v4"

    # bad input: 4xx naming the field, nothing changes
    for path, body, status, field in (
            ("model-versions/v9/active", None, 404, "version"),
            ("model-versions/latest/active", None, 400, "version"),
            ("model-versions/v1/active", {"pin": "yes"}, 400, "pin"),
            ("model-versions/v1/active", {"other": 1}, 400, "other"),
            ("ml", {"pinned_version": 9}, 404, "ml.pinned_version")):
        answer = api.put(f"/api/projects/{project_id}/{path}", body)
        assert (answer.status_code, answer.json["Field"]) == (status, field), answer.json
    assert predicted_version(api, project_id) == "v4"

    # a tampered artifact cannot be rolled back to
    from chalicelib.ml import serving
    from chalicelib.store.aws import client
    from chalicelib.store.models import ModelVersionModel

    serving.clear_cache()
    record = ModelVersionModel.get(project_id, 2)
    forged = client("s3").put_object(Bucket=record.s3_bucket, Key=record.s3_key, Body=b"not the model")
    record.update(actions=[ModelVersionModel.s3_version_id.set(forged["VersionId"])])
    answer = api.put(f"/api/projects/{project_id}/model-versions/2/active", {"pin": True})
    assert answer.status_code == 409 and "sha256" in answer.json["Message"], answer.json
    assert api.get(f"/api/projects/{project_id}/ml").json["pinned_version"] is None
    assert predicted_version(api, project_id) == "v4"


def test_promotion_pre_annotates_the_project_as_a_job(api, pump, monkeypatch):
    from chalicelib.services import rescoring
    from tests.functional.helpers import import_texts, label_both_classes

    monkeypatch.setenv(rescoring.CHUNK_ENV, "20")
    project_id = make_project(api, min_completions=10, retrain_every=100_000)
    assert api.post(f"/api/projects/{project_id}/predictions").status_code == 409  # no model yet
    rows = balanced_rows(60)
    labeled = label_both_classes(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"

    listed = api.get(f"/api/projects/{project_id}/jobs").json["jobs"]
    by_kind = {job["kind"]: job for job in listed}
    assert by_kind["training"]["state"] == "succeeded" and by_kind["training"]["detail"]["outcome"] == "promoted"
    job = by_kind["rescoring+preannotation"]
    assert (job["state"], job["total"], job["done"], job["failed"], job["predictions_stored"]) == \
        ("succeeded", 60, 60, 0, 50), job
    assert job["finished"] >= job["started"] and job["model_version"] == "v1"
    assert pump.delivered["rescore_worker"] == 1 + 3  # one pass scores and predicts

    def stored_predictions():
        tasks = api.get(f"/api/projects/{project_id}/export").json["tasks"]
        return {t["id"]: [p["model_version"] for p in t["predictions"]] for t in tasks}

    stored = stored_predictions()
    assert all(stored[int(i)] == [] for i in labeled)
    assert sum(versions == ["v1"] for versions in stored.values()) == 50
    # the stored prediction is the model's answer, in Label Studio's format
    task = next(t for t in api.get(f"/api/projects/{project_id}/export").json["tasks"] if t["predictions"])
    answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": task["data"]}]}).json
    def without_ids(result):
        return [{k: v for k, v in item.items() if k != "id"} for item in result]

    assert without_ids(task["predictions"][0]["result"]) == without_ids(answer["results"][0]["result"])
    assert task["predictions"][0]["model_version"] == "v1"

    # on demand: a new job; redelivering every rescore message counts and writes nothing twice
    started = api.post(f"/api/projects/{project_id}/predictions")
    assert started.status_code == 202 and started.json["kind"] == "preannotation", started.json
    pump.drain()
    again = api.get(f"/api/projects/{project_id}/jobs/{started.json['id']}").json
    assert (again["state"], again["done"], again["predictions_stored"]) == ("succeeded", 60, 50)
    for batch in pump.delivered_sqs_batches:
        if "rescore" in batch["Records"][0]["eventSourceARN"]:
            pump.invoke("rescore_worker", batch)
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/jobs/{started.json['id']}").json == again
    assert stored_predictions() == stored
    assert api.get(f"/api/projects/{project_id}/jobs/nope").status_code == 404


def test_rollback_and_pin_pre_annotate_the_project_once(api, pump, monkeypatch):
    """A move by hand (rollback, pin) starts its own pre-annotation pass, a job named after the
    move; a retried request, a request that stopped before the pass was sent, and redelivered
    messages all end with one pass counted once."""
    from chalicelib.services import rescoring
    from chalicelib.store import model_registry, training as training_db
    from tests.functional.helpers import import_texts, label_both_classes

    monkeypatch.setenv(rescoring.CHUNK_ENV, "20")
    project_id = make_project(api, min_completions=10, retrain_every=100_000, promotion="always")
    rows = balanced_rows(30)
    labeled = label_both_classes(api, project_id, import_texts(api, project_id, rows), rows)
    pump.drain()
    train_now(api, pump, project_id)
    assert training(api, project_id)["model_version"] == "v2"

    def jobs():
        return {job["id"]: job for job in api.get(f"/api/projects/{project_id}/jobs").json["jobs"]}

    def stored_versions():
        tasks = api.get(f"/api/projects/{project_id}/export").json["tasks"]
        return {t["id"]: [p["model_version"] for p in t["predictions"]] for t in tasks}

    assert sorted(map(tuple, stored_versions().values())) == [()] * 10 + [("v2",)] * 20

    # rollback: one pre-annotation job of v1, visible in /jobs, brings v1's predictions back
    answer = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
    assert answer.status_code == 200 and answer.json["preannotation_job"] == "preannotation-v1-a1", answer.json
    assert jobs()["preannotation-v1-a1"]["state"] == "running"
    pump.drain()
    job = jobs()["preannotation-v1-a1"]
    assert (job["kind"], job["state"], job["total"], job["done"], job["predictions_stored"], job["model_version"]) \
        == ("preannotation", "succeeded", 30, 30, 20, "v1"), job
    stored = stored_versions()
    assert sorted(i for i, v in stored.items() if v == ["v1"]) == sorted(set(stored) - {int(i) for i in labeled})

    # a retried PUT (the version is active already): the same job, nothing sent again
    sent = pump.delivered["rescore_worker"]
    before = jobs()
    again = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
    assert again.status_code == 200 and again.json["preannotation_job"] == "preannotation-v1-a1", again.json
    pump.drain()
    assert jobs() == before and pump.delivered["rescore_worker"] == sent
    # redelivered messages of the pass count and write nothing twice
    for batch in pump.delivered_sqs_batches:
        if "rescore" in batch["Records"][0]["eventSourceARN"]:
            pump.invoke("rescore_worker", batch)
    pump.drain()
    assert jobs() == before and stored_versions() == stored

    # a request that stopped after moving the pointer, before the pass: its retry starts the pass
    model_registry.activate(project_id, training_db.get_model_version(project_id, 2))
    assert predicted_version(api, project_id) == "v2" and "preannotation-v2-a2" not in jobs()
    answer = api.put(f"/api/projects/{project_id}/model-versions/2/active")
    assert answer.json["preannotation_job"] == "preannotation-v2-a2", answer.json
    pump.drain()
    assert jobs()["preannotation-v2-a2"]["state"] == "succeeded"
    assert sum(v == ["v2"] for v in stored_versions().values()) == 20

    # a pin that changes the active version is a move too: v1's pass; a retried PUT adds nothing
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": 1}).status_code == 200
    pump.drain()
    job = jobs()["preannotation-v1-a3"]
    assert (job["state"], job["done"], job["predictions_stored"]) == ("succeeded", 30, 20), job
    before = jobs()
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": 1}).status_code == 200
    pump.drain()
    assert jobs() == before and sum(v == ["v1"] for v in stored_versions().values()) == 20

    # a pin request that stopped after storing the pin and moving the pointer: another settings
    # change starts nothing; the retried pin request sends the move's pass
    from chalicelib.store import projects as project_db

    ml = api.get(f"/api/projects/{project_id}/ml").json
    project_db.update_project(project_id, ml={**ml, "pinned_version": 2})
    model_registry.activate(project_id, training_db.get_model_version(project_id, 2))
    assert api.put(f"/api/projects/{project_id}/ml", {"min_completions": 10}).status_code == 200
    assert "preannotation-v2-a4" not in jobs()
    assert api.put(f"/api/projects/{project_id}/ml", {"pinned_version": 2}).status_code == 200
    pump.drain()
    assert jobs()["preannotation-v2-a4"]["state"] == "succeeded"

    # ml.preannotate off: a move starts no pass
    assert api.put(f"/api/projects/{project_id}/ml", {"preannotate": False, "pinned_version": None}).status_code == 200
    before = jobs()
    answer = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
    assert answer.status_code == 200 and answer.json["preannotation_job"] is None, answer.json
    assert predicted_version(api, project_id) == "v1" and set(jobs()) == set(before)
