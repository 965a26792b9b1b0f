"""`ml.labelstudio_stream` (issue 24): Label Studio's own labeling stream follows activelabel, against
a fake Label Studio on loopback (tests/functional/ls_fakes.py): its sampling settings, auto labels
as annotations, relabels through overlap; idempotent under redelivery."""
from activelabel_client.datasets import choice_completion

from tests.functional.helpers import balanced_rows, make_project, training
from tests.functional.ls_fakes import FakeLabelStudio, serving
from tests.functional.test_labelstudio_backend import BASIC, linked_project_id, setup_sms

TOKEN = "ls-token-123"
AUTO = {"enabled": True, "target_accuracy": 0.8, "confidence": 0.8, "min_validation": 10, "audit_rate": 0.2}


def _exported(labelled, unlabelled):
    tasks = [{"id": 100 + i, "data": {"text": r["text"]}, "predictions": [],
              "annotations": [{"id": 300 + i, "completed_by": 7, "was_cancelled": False,
                               "result": choice_completion(r["label"], "x")["result"]}]}
             for i, r in enumerate(labelled)]
    return tasks + [{"id": 600 + i, "data": {"text": r["text"]}, "annotations": [], "predictions": []}
                    for i, r in enumerate(unlabelled)]


def _redeliver_train_queue(pump, key):
    for batch in list(pump.delivered_sqs_batches):
        if key in batch["Records"][0]["body"]:
            pump.invoke("train_worker", batch)
    pump.drain()


def test_the_switch_needs_a_linked_project_with_a_token(api):
    project_id = make_project(api)
    answer = api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": True})
    assert answer.status_code == 400 and answer.json["Field"] == "ml.labelstudio_stream", answer.json
    assert api.get(f"/api/projects/{project_id}/ml").json["labelstudio_stream"] is False  # nothing written
    answer = api.patch(f"/api/projects/{project_id}", {"ml": {"labelstudio_stream": "yes"}})
    assert answer.status_code == 400 and answer.json["Field"] == "ml.labelstudio_stream", answer.json
    assert api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": False}).status_code == 200


def test_switch_on_follows_promotions_and_switch_off_restores_label_studio(api, pump):
    rows = balanced_rows(14, seed=5)
    fake = FakeLabelStudio(TOKEN, {"7": _exported(rows[:10], rows[10:])})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token=TOKEN)
        project_id = linked_project_id(api)
        answer = api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": True, "min_completions": 100,
                                                             "promotion": "always"})
        assert answer.status_code == 200, answer.json
        assert fake.calls == []  # the request only queues
        pump.drain()
        # turned on: every Label Studio task is pulled (so the passes reach the tasks never seen)
        assert "/api/projects/7/export?exportType=JSON&download_all_tasks=true" in fake.paths("GET")
        assert len(api.get(f"/api/projects/{project_id}/export").json["tasks"]) == 14
        api.put(f"/api/projects/{project_id}/ml", {"min_completions": 10})
        # Label Studio refuses a model_version it holds no prediction of: set once they are pushed
        assert fake.settings["7"] == {"id": 7, "sampling": "Uncertainty sampling", "show_overlap_first": True,
                                      "model_version": ""}
        # a promotion moves Label Studio's model_version (the v1 predictions pushed carry the same)
        api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
        pump.drain()
        assert training(api, project_id)["model_version"] == "v1"
        assert fake.settings["7"]["model_version"] == "v1"
        assert {p["model_version"] for p in fake.predictions} == {"v1"} and all("score" in p for p in fake.predictions)
        # the diversity candidates' clusters (the import drops them): set prediction by prediction
        clustered = {p["task"]: p["cluster"] for p in fake.predictions if "cluster" in p}
        assert clustered and all(100 <= c < 200 for c in clustered.values()), clustered  # chunk 1: 1 * 100 + k
        # switched off: the settings found first come back, once, and a redelivery changes nothing
        assert api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": False}).status_code == 200
        pump.drain()
        assert (fake.settings["7"]["sampling"], fake.settings["7"]["show_overlap_first"]) == ("Sequential sampling", False)
        patches = len(fake.paths("PATCH"))
        _redeliver_train_queue(pump, "labelstudio_stream")
        assert len(fake.paths("PATCH")) == patches
        assert fake.settings["7"]["sampling"] == "Sequential sampling"
        jobs = [j for j in api.get(f"/api/projects/{project_id}/jobs").json["jobs"] if j["kind"] == "labelstudio_stream"]
        assert jobs and all(j["state"] == "succeeded" for j in jobs), jobs


def test_label_studio_down_is_retried_and_a_refused_token_is_recorded(api, pump):
    fake = FakeLabelStudio(TOKEN, {"7": []})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token=TOKEN)
        project_id = linked_project_id(api)
    # the server is gone: the message fails and stays for SQS to redeliver
    assert api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": True}).status_code == 200
    pump.drain()
    job = next(j for j in api.get(f"/api/projects/{project_id}/jobs").json["jobs"] if j["kind"] == "labelstudio_stream")
    assert job["state"] == "running" and "retried" in (job.get("error") or ""), job
    with serving(FakeLabelStudio("another-token", {"7": []})) as other:
        setup_sms(api, hostname=other.url, token=TOKEN)  # Label Studio now refuses the stored token
        assert api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": True}).status_code == 200
        pump.drain()
    failed = [j for j in api.get(f"/api/projects/{project_id}/jobs").json["jobs"]
              if j["kind"] == "labelstudio_stream" and j["state"] == "failed"]
    assert failed and "401" in failed[0]["error"], failed


def test_auto_labels_become_label_studio_annotations_once_and_the_pull_skips_them(api, pump):
    rows = balanced_rows(200, seed=3)
    fake = FakeLabelStudio(TOKEN, {"7": _exported(rows[:100], rows[100:])})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token=TOKEN)
        project_id = linked_project_id(api)
        assert api.put(f"/api/projects/{project_id}/ml", {
            "labelstudio_stream": True, "min_completions": 100, "promotion": "always", "retrain_every": 100_000,
            "sampling": "random", "auto_label": AUTO}).status_code == 200
        pump.drain()  # turned on: the export is pulled, which trains v1
        assert training(api, project_id)["model_version"] == "v1"
        assert training(api, project_id)["auto_label"]["active"], training(api, project_id)["auto_label"]
        exported = {t["id"]: t for t in api.get(f"/api/projects/{project_id}/export").json["tasks"]}
        auto = {t["meta"]["ls_task_id"]: p for t in exported.values() for p in t["predictions"] if p.get("auto")}
        from chalicelib.services.auto_labeling import audited

        audited_ls = {t["meta"]["ls_task_id"] for t in exported.values() if audited(t["id"], AUTO["audit_rate"])}
        written = {a["task"]: a for a in fake.annotations}
        assert len(auto) >= 40 and set(written) == set(auto) - audited_ls, (len(auto), len(written))
        names = {p["id"]: p["model_version"] for p in fake.predictions}
        assert all(names[a["parent_prediction"]] == "activelabel-auto-v1" and a["completed_by"] == 1
                   for a in written.values())
        assert all(a["result"] == auto[t]["result"] for t, a in written.items())
        # a redelivered rescoring leaf adds no annotation and no prediction
        before = (len(fake.annotations), len(fake.predictions))
        for batch in list(pump.delivered_sqs_batches):
            if "rescore" in batch["Records"][0]["eventSourceARN"]:
                pump.invoke("rescore_worker", batch)
        pump.drain()
        assert (len(fake.annotations), len(fake.predictions)) == before
        # the export now holds them: a pull does not count them as human labels
        for task in fake.exports["7"]:
            task["predictions"] = [p["id"] for p in fake.predictions if p["task"] == task["id"]]  # ids, as 1.23
            task["annotations"] = task["annotations"] + [a for a in fake.annotations if a["task"] == task["id"]]
        completions = training(api, project_id)["completions"]
        api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
        pump.drain()
        assert training(api, project_id)["completions"] == completions
        # auto-labelling turned off: every activelabel annotation leaves Label Studio
        assert api.put(f"/api/projects/{project_id}/ml", {"auto_label": {"enabled": False}}).status_code == 200
        pump.drain()
        assert fake.annotations == []


def test_flagged_tasks_are_served_again_through_overlap_and_cleared_ones_put_back(api, pump, monkeypatch):
    from chalicelib.services import labelstudio_stream
    from chalicelib.store import projects as project_db

    rows = balanced_rows(14, seed=5)
    fake = FakeLabelStudio(TOKEN, {"7": _exported(rows[:12], rows[12:])})
    with serving(fake):
        setup_sms(api, hostname=fake.url, token=TOKEN)
        project_id = linked_project_id(api)
        api.put(f"/api/projects/{project_id}/ml", {"min_completions": 10})
        api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, headers=BASIC)
        pump.drain()
        project = project_db.get_project(project_id)
        ours = {t["meta"]["ls_task_id"]: t["id"] for t in api.get(f"/api/projects/{project_id}/export").json["tasks"]}
        assert labelstudio_stream.relabels(project, {ours[100]: 1}, [ours[101]]) == 0  # switch off: nothing
        api.put(f"/api/projects/{project_id}/ml", {"labelstudio_stream": True})
        pump.drain()
        project = project_db.get_project(project_id)
        assert labelstudio_stream.relabels(project, {ours[100]: 1}, [ours[101]]) == 2
        assert fake.task_fields == {100: {"overlap": 2, "is_labeled": False}, 101: {"overlap": 1, "is_labeled": True}}


def test_tasks_created_in_label_studio_become_ours(api, pump):
    rows = balanced_rows(3, seed=8)
    setup_sms(api)
    project_id = linked_project_id(api)
    event = {"action": "TASKS_CREATED", "project": {"id": 7},
             "tasks": [{"id": 900 + i, "data": {"text": r["text"]}} for i, r in enumerate(rows)]
             + [{"id": 999, "data": {"wrong": "key"}}]}
    answer = api.post("/ls/webhook", event, headers=BASIC)
    assert answer.status_code == 201 and (answer.json["tasks"], answer.json["skipped"]) == (3, 1), answer.json
    assert api.post("/ls/webhook", event, headers=BASIC).json["tasks"] == 3  # redelivered: the same tasks
    tasks = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    assert sorted(t["meta"]["ls_task_id"] for t in tasks) == [900, 901, 902]
    bad = api.post("/ls/webhook", {"action": "TASKS_CREATED", "project": {"id": 7}}, headers=BASIC)
    assert bad.status_code == 400 and bad.json["Field"] == "tasks", bad.json
