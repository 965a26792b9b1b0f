"""Small helpers shared by functional tests (projects with SMS data, completions, state)."""
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_split


def make_project(api, **ml):
    answer = api.post("/api/projects", {"title": "sms", "label_config": SMS_LABEL_CONFIG, "ml": ml})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def import_texts(api, project_id, rows):
    answer = api.post(f"/api/projects/{project_id}/tasks", [{"data": {"text": r["text"]}} for r in rows])
    assert answer.status_code == 201, answer.json
    return answer.json["task_ids"]


def complete(api, project_id, task_id, label, annotator="ann-1"):
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", choice_completion(label, annotator))
    assert answer.status_code == 201, answer.json
    return answer.json


def complete_rows(api, project_id, task_ids, rows):
    """Complete each task with its row's true label (one annotator)."""
    for task_id, row in zip(task_ids, rows):
        complete(api, project_id, task_id, row["label"])


def poll_until(pump, fault, rounds=10):
    """Deliver events one poll at a time until `fault` (tests/faults.py) has fired, at most `rounds` polls."""
    for _ in range(rounds):
        pump.poll_once()
        if fault.fired:
            break


def label_both_classes(api, project_id, ids, rows, n=10, annotator="alice"):
    """Complete `n` tasks with their true labels, half spam and half ham, so the first training always
    sees both classes (`next`'s first batch is a random draw: 10 of a third-spam pool are all ham
    about 2% of the time, and a single class cannot train). Returns the completed task ids."""
    spam = [i for i, r in zip(ids, rows) if r["label"] == "spam"][: n // 2]
    ham = [i for i, r in zip(ids, rows) if r["label"] == "ham"][: n - len(spam)]
    for task_id in spam + ham:
        complete(api, project_id, task_id, "spam" if task_id in spam else "ham", annotator=annotator)
    return spam + ham


def balanced_rows(n, seed=0):
    """n SMS rows, spam first-ish: about a third spam so every training sees both classes."""
    pool, _ = sms_split(2000, 0, seed=seed)
    spam = [r for r in pool if r["label"] == "spam"]
    ham = [r for r in pool if r["label"] == "ham"]
    rows = []
    for i in range(n):
        rows.append(spam.pop() if i % 3 == 0 else ham.pop())
    return rows


def training(api, project_id):
    return api.get(f"/api/projects/{project_id}/training").json


def snapshot(api, project_id):
    """Everything redelivery must not change."""
    tasks = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    return {
        "training": training(api, project_id),
        "versions": [(v["model_version"], v["n_train"], v["active"])
                     for v in api.get(f"/api/projects/{project_id}/model-versions").json["versions"]],
        "accepted": sorted(t["id"] for t in tasks if t["is_labeled"]),
        "agreement": {t["id"]: t["agreement"] for t in tasks},
    }
