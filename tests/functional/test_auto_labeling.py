"""Auto-labelling (issue 15): a calibrated version labels the tasks it is sure enough of, people win,
auto labels train only when asked, and turning it off withdraws them."""
from types import SimpleNamespace

import pytest

from activelabel_client.datasets import choice_completion
from chalicelib.domain.settings import AUTO_LABEL_DEFAULTS
from chalicelib.services.auto_labeling import MIN_AUDITED_TO_PAUSE, audit_status
from tests.functional.helpers import balanced_rows, import_texts, make_project, training

AUTO = {"enabled": True, "target_accuracy": 0.8, "confidence": 0.8, "min_validation": 10, "audit_rate": 0.2}


def _auto_labels(api, project_id):
    tasks = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    return {t["id"]: p for t in tasks for p in t["predictions"] if p.get("auto")}


def _choice(prediction):
    return prediction["result"][0]["value"]["choices"][0]


def _versions(api, project_id):
    return {v["model_version"]: v for v in api.get(f"/api/projects/{project_id}/model-versions").json["versions"]}


def test_calibrated_auto_labels_people_win_and_auto_labels_train_only_when_asked(api, pump):
    rows = balanced_rows(200, seed=3)
    project_id = make_project(api, min_completions=100, sampling="random", promotion="always", preannotate=False,
                              retrain_every=100_000, auto_label=AUTO)
    labelled = [{"data": {"text": r["text"]}, "annotations": [choice_completion(r["label"], "ann")]} for r in rows[:100]]
    assert api.post(f"/api/projects/{project_id}/tasks", labelled).status_code == 201
    ids = import_texts(api, project_id, rows[100:])
    truth = dict(zip(map(int, ids), (r["label"] for r in rows[100:])))
    pump.drain()

    state = training(api, project_id)
    calibration = state["auto_label"]["calibration"]
    assert state["model_version"] == "v1" and state["auto_label"]["active"], state["auto_label"]
    assert calibration["threshold"] is not None and calibration["validation_size"] >= 10
    assert calibration["method"] == "fixed-sequence exact binomial tests"
    auto = _auto_labels(api, project_id)
    assert len(auto) >= 40, len(auto)  # SMS is easy: most of the 100 unlabelled tasks
    right = sum(_choice(p) == truth[task_id] for task_id, p in auto.items())
    assert right / len(auto) >= AUTO["target_accuracy"], (right, len(auto))
    assert all(p["score"] >= calibration["threshold"] and p["model_version"] == "v1" for p in auto.values())
    # the labels are the judge's (fit without the validation set the threshold was calibrated on), not
    # the served model's, which also learnt the validation labels
    from chalicelib.services import prediction as predictions
    from chalicelib.store import training as training_db

    judge, served = predictions.load_auto_labeler(project_id, 1), predictions.load_version(project_id, 1)
    stored = training_db.get_model_version(project_id, 1).calibration["model"]
    assert stored["key"].endswith("/v1/judge.npz") and judge is not served
    texts = {int(t["id"]): t["data"]["text"] for t in api.get(f"/api/projects/{project_id}/export").json["tasks"]}
    ordered = sorted(auto)
    judged = judge.scored(judge.encode([texts[t] for t in ordered]))
    assert [(_choice(auto[t]), auto[t]["score"]) for t in ordered] == [
        (label, round(float(score), 6)) for label, score in judged]
    assert judged != served.scored(served.encode([texts[t] for t in ordered]))

    # off the human queue, except the audited share: next serves only unlabelled or audited tasks
    served = set()
    for i in range(40):
        answer = api.get(f"/api/projects/{project_id}/next?annotator=auditor-{i}")
        if answer.status_code == 204:
            break
        served.add(answer.json["id"])
    from chalicelib.services.auto_labeling import audited

    assert not {t for t in served & set(auto) if not audited(t, AUTO["audit_rate"])}

    # the export marks them: predictions "auto": true by default, annotations "origin": "auto" on request
    as_annotations = {t["id"]: t for t in api.get(
        f"/api/projects/{project_id}/export?auto_labels=annotations").json["tasks"]}
    for task_id, prediction in auto.items():
        task = as_annotations[task_id]
        assert not any(p.get("auto") for p in task["predictions"])
        marked = [a for a in task["annotations"] if a.get("origin") == "auto"]
        assert [(a["result"], a["model_version"]) for a in marked] == [(prediction["result"], "v1")]
    assert not any(a.get("origin") for t in as_annotations.values() if t["id"] not in auto for a in t["annotations"])
    bad = api.get(f"/api/projects/{project_id}/export?auto_labels=both")
    assert bad.status_code == 400 and bad.json["Field"] == "auto_labels", bad.json
    # the report counts them
    labels = api.get(f"/api/projects/{project_id}/report").json["labels"]
    assert labels["auto"] == len(auto) and labels["human"] == 100 and labels["total"] == 200
    assert labels["left"] == 100 - len(auto)

    # a person labels an auto-labelled task the other way: the human label wins, and the audit counts it
    task_id = next(iter(auto))
    other = "ham" if _choice(auto[task_id]) == "spam" else "spam"
    assert api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                    choice_completion(other, "person")).status_code == 201
    pump.drain()
    task = api.get(f"/api/projects/{project_id}/tasks/{task_id}").json
    assert task["is_labeled"] and not any(p.get("auto") for p in task["predictions"])
    assert task["annotations"][0]["result"][0]["value"]["choices"] == [other]
    assert training(api, project_id)["auto_label"]["audit"]["audited"] == 1
    assert training(api, project_id)["auto_label"]["audit"]["agreed"] == 0

    # a new target applies now, to the version already trained (re-calibrated from its stored counts):
    # no threshold shows 0.9999 on this validation set, so the settings' rescoring pass withdraws them all
    before = _auto_labels(api, project_id)
    assert api.put(f"/api/projects/{project_id}/ml", {"auto_label": {"target_accuracy": 0.9999}}).status_code == 200
    pump.drain()
    state = training(api, project_id)["auto_label"]
    assert not state["active"] and state["calibration"]["threshold"] is None and "0.9999" in state["reason"]
    assert _auto_labels(api, project_id) == {}
    assert api.put(f"/api/projects/{project_id}/ml", {"auto_label": {"target_accuracy": AUTO["target_accuracy"]}}
                   ).status_code == 200
    pump.drain()
    again = _auto_labels(api, project_id)  # the same labels (their result ids are new)
    assert {i: (_choice(p), p["score"], p["model_version"]) for i, p in again.items()} == {
        i: (_choice(p), p["score"], p["model_version"]) for i, p in before.items()}
    assert training(api, project_id)["auto_label"]["active"]

    # auto labels do not train: v2 trains on the same human labels (plus the one just added).
    # v2 cannot meet the target (its stored counts made to fail before its rescoring pass): it labels
    # nothing and withdraws only the v1 labels it contradicts
    n_v1 = _versions(api, project_id)["v1"]["n_train"]
    with pump.holding("rescore_worker"):
        assert api.post(f"/api/projects/{project_id}/train").status_code == 202
        pump.drain()
        from chalicelib.store.models import ModelVersionModel

        record = ModelVersionModel.get(project_id, 2)
        failing = [[t, above, above // 2] for t, above, _ in record.calibration["counts"]]
        record.update(actions=[ModelVersionModel.calibration.set({**record.calibration, "counts": failing})])
        # and one v1 label that v2 will contradict (as if v1 had labelled it the other way)
        from chalicelib.store.models import TaskModel

        flipped = next(i for i in before if i != task_id)
        stored = TaskModel.get(project_id, flipped)
        other_label = "ham" if stored.auto_label["answer"] == ["spam"] else "spam"
        stored.update(actions=[TaskModel.auto_label.set({**stored.auto_label, "answer": [other_label]})])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v2"
    assert _versions(api, project_id)["v2"]["n_train"] <= n_v1 + 1
    assert not training(api, project_id)["auto_label"]["active"]
    kept = _auto_labels(api, project_id)
    texts = {t["id"]: t["data"]["text"] for t in api.get(f"/api/projects/{project_id}/export").json["tasks"]}
    v2 = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": texts[i]}} for i in before]}).json
    says = {task_id: _choice(p) for task_id, p in zip(before, v2["results"])}
    assert kept and set(kept) <= set(before) and all(p["model_version"] == "v1" for p in kept.values())
    assert all(says[i] == _choice(kept[i]) for i in kept)
    assert flipped not in kept and says[flipped] != other_label
    assert set(kept) == {i for i in before if says[i] == _choice(before[i])} - {task_id, flipped}
    # ... unless asked
    assert api.put(f"/api/projects/{project_id}/ml", {"auto_label": {"train_on_auto": True}}).status_code == 200
    standing = len(_auto_labels(api, project_id))
    assert api.post(f"/api/projects/{project_id}/train").status_code == 202
    pump.drain()
    assert _versions(api, project_id)["v3"]["n_train"] >= n_v1 + standing - 1

    # a rollback re-judges: after PUT .../v1/active every auto label standing is v1's (v3's replaced or
    # withdrawn, though v3 is the newer version), through the move's own job
    assert any(p["model_version"] == "v3" for p in _auto_labels(api, project_id).values())
    moved = api.put(f"/api/projects/{project_id}/model-versions/v1/active", {})
    assert moved.status_code == 200, moved.json
    pump.drain()
    threshold_v1 = training(api, project_id)["auto_label"]["calibration"]["threshold"]
    standing = _auto_labels(api, project_id)
    assert standing and all(p["model_version"] == "v1" and p["score"] >= threshold_v1 for p in standing.values())
    jobs = {j["id"]: j for j in api.get(f"/api/projects/{project_id}/jobs").json["jobs"]}
    assert jobs["rescoring-v1-a1"]["state"] == "succeeded", jobs

    # turned off: the next version withdraws every auto label, and the tasks are back in the pool
    assert api.put(f"/api/projects/{project_id}/ml", {"auto_label": {"enabled": False}}).status_code == 200
    assert api.post(f"/api/projects/{project_id}/train").status_code == 202
    pump.drain()
    assert training(api, project_id)["model_version"] == "v4"
    assert _auto_labels(api, project_id) == {}
    assert not training(api, project_id)["auto_label"]["active"]


def _project(n, correct):
    return SimpleNamespace(audit_n=n, audit_correct=correct)


def test_the_audit_pauses_auto_labelling_when_its_upper_bound_is_below_the_target():
    settings = dict(AUTO_LABEL_DEFAULTS)
    assert not audit_status(_project(0, 0), settings)["paused"]
    assert not audit_status(_project(MIN_AUDITED_TO_PAUSE, MIN_AUDITED_TO_PAUSE), settings)["paused"]
    poor = audit_status(_project(100, 70), settings)
    assert poor["paused"] and "below the target" in poor["reason"] and poor["interval"][1] < 0.95
    few = audit_status(_project(MIN_AUDITED_TO_PAUSE - 1, 0), settings)
    assert not few["paused"]  # too few audited tasks to judge yet


MULTIPLE = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text" choice="multiple">'
            '<Choice value="spam"/><Choice value="ham"/></Choices></View>')
TAXONOMY = ('<View><Text name="text" value="$text"/><Taxonomy name="label" toName="text">'
            '<Choice value="message"><Choice value="spam"/><Choice value="ham"/></Choice></Taxonomy></View>')


def _answer(config, label):
    """(the Label Studio result value, the consensus answer) of an SMS label under `config`."""
    if config is TAXONOMY:
        return {"taxonomy": [["message", label]]}, [["message", label]]
    return {"choices": [label]}, [label]


@pytest.mark.parametrize("config", [MULTIPLE, TAXONOMY], ids=["multiple-choices", "taxonomy"])
def test_multiple_choices_and_taxonomy_auto_label_in_their_own_shape_and_are_audited(api, pump, config):
    rows = balanced_rows(160, seed=4)
    answer = api.post("/api/projects", {"title": "sms", "label_config": config, "ml": {
        "min_completions": 100, "sampling": "random", "preannotate": False, "retrain_every": 100_000,
        "auto_label": {**AUTO, "audit_rate": 0.0}}})
    assert answer.status_code == 201, answer.json
    project_id = answer.json["id"]

    def completion(label, who):
        value = _answer(config, label)[0]
        kind = "taxonomy" if config is TAXONOMY else "choices"
        return {"result": [{"from_name": "label", "to_name": "text", "type": kind, "value": value}], "completed_by": who}

    labelled = [{"data": {"text": r["text"]}, "annotations": [completion(r["label"], "ann")]} for r in rows[:100]]
    assert api.post(f"/api/projects/{project_id}/tasks", labelled).status_code == 201
    ids = import_texts(api, project_id, rows[100:])
    truth = dict(zip(map(int, ids), (r["label"] for r in rows[100:])))
    pump.drain()

    state = training(api, project_id)["auto_label"]
    assert state["active"] and state["calibration"]["threshold"] is not None, state
    auto = _auto_labels(api, project_id)
    assert len(auto) >= 20, len(auto)
    for task_id, prediction in auto.items():
        value = prediction["result"][0]["value"]  # in the control's own shape: a path, or a set of choices
        assert set(value) == ({"taxonomy"} if config is TAXONOMY else {"choices"}), value
    right = sum(prediction["result"][0]["value"] == _answer(config, truth[i])[0] for i, prediction in auto.items())
    assert right / len(auto) >= AUTO["target_accuracy"], (right, len(auto))
    # a person gives an auto-labelled task the same label: the audit counts an agreement
    task_id, prediction = next(iter(auto.items()))
    label = prediction["result"][0]["value"]["taxonomy"][0][-1] if config is TAXONOMY \
        else prediction["result"][0]["value"]["choices"][0]
    assert api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                    completion(label, "person")).status_code == 201
    pump.drain()
    audit = training(api, project_id)["auto_label"]["audit"]
    assert (audit["audited"], audit["agreed"]) == (1, 1), audit
