"""A completion from our API and one from Label Studio's webhook go through the same use case
(services/completions.py): both take one of the task's completion slots (the per-task limit) and
both record their annotator (never served the task again)."""
from activelabel_client.datasets import choice_completion

from chalicelib.services import completions
from chalicelib.store import tasks as task_db
from tests.functional.test_labelstudio_backend import BASIC, annotation_event, linked_project_id, setup_sms


def test_api_and_webhook_completions_share_the_per_task_limit_and_the_annotators(api, monkeypatch):
    monkeypatch.setattr(completions, "MAX_COMPLETIONS_PER_TASK", 3)
    setup_sms(api)
    project_id = linked_project_id(api)
    answer = api.post("/ls/webhook", annotation_event(100, 500, "win a prize", "spam", user=41), headers=BASIC)
    assert answer.status_code == 201, answer.json
    task_id = int(answer.json["completion"].split(".")[0])

    url = f"/api/projects/{project_id}/tasks/{task_id}/completions"
    for annotator in ("alice", "bob"):
        answer = api.post(url, choice_completion("spam", annotator))
        assert answer.status_code == 201, answer.json
    # the webhook's completion took one of the three slots: a fourth is refused on either path
    refused = api.post(url, choice_completion("ham", "carol"))
    assert refused.status_code == 400 and refused.json["Field"] == "task_id", refused.json
    refused = api.post("/ls/webhook", annotation_event(100, 501, "win a prize", "ham", user=42), headers=BASIC)
    assert refused.status_code == 400 and refused.json["Field"] == "task_id", refused.json
    # an edit (or redelivery) of a recorded annotation rewrites it in place, taking no slot
    edited = api.post("/ls/webhook", annotation_event(100, 500, "win a prize", "ham", "ANNOTATION_UPDATED", user=41),
                      headers=BASIC)
    assert edited.status_code == 201, edited.json
    stored = api.get(url).json["completions"]
    assert sorted(c["id"] for c in stored) == sorted([f"{task_id}.ls500", f"{task_id}.2", f"{task_id}.3"])  # slot 1: the webhook
    assert next(c for c in stored if c["id"] == f"{task_id}.ls500")["result"][0]["value"]["choices"] == ["ham"]

    task = task_db.find_task(project_id, task_id)
    assert set(task.annotators) == {"41", "alice", "bob"}
    assert int(task.completion_seq) == 3 and task.pool_project is None
