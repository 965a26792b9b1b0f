"""The learning loop over real HTTP: the local stack (moto + API + pump) driven by the Python client.

One stack for the module (`start_stack(port=0)`); nothing is drained by hand: the stack's own pump
thread delivers the completions stream and the train queue, as `make serve` does.
"""
import time

import pytest

from activelabel_client.client import ActivelabelClient, ApiError
from activelabel_client.datasets import (
    SMS_LABEL_CONFIG,
    choice_completion,
    classes_first,
    sms_split,
)

MIN_COMPLETIONS = 20
N_COMPLETED = 25


@pytest.fixture(scope="module")
def stack():
    from chalicelib.local.server import start_stack

    running = start_stack(port=0)
    try:
        yield running
    finally:
        running.stop()


def wait_for_completions(api, project_id, count, timeout=30):
    """/training once the stream has counted `count` completions."""
    deadline = time.monotonic() + timeout
    state = api.training(project_id)
    while state["completions"] < count and time.monotonic() < deadline:
        time.sleep(0.2)
        state = api.training(project_id)
    assert state["completions"] >= count, state
    return state


@pytest.fixture(scope="module")
def api(stack):
    with ActivelabelClient(stack.url, stack.admin_token, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def sms():
    pool, test = sms_split(300, 40, seed=3)
    return pool, test


@pytest.fixture(scope="module")
def project(api, sms):
    """A project with 300 SMS tasks, 25 of them labelled once (both classes among them)."""
    pool, _ = sms
    created = api.create_project("sms over http", SMS_LABEL_CONFIG,
                                 ml={"min_completions": MIN_COMPLETIONS, "agreement_threshold": 0.6})
    task_ids = api.import_tasks(created["id"], [{"data": {"text": row["text"]}} for row in pool], progress=False)
    assert len(task_ids) == 300 and len(set(task_ids)) == 300
    order = classes_first(pool, per_class=5)[:N_COMPLETED]
    assert {pool[i]["label"] for i in order} == {"ham", "spam"}
    for index in order:
        completion = choice_completion(pool[index]["label"], "ann-1")
        api.add_completion(created["id"], task_ids[index], completion["result"], completion["completed_by"])
    labelled = set(order)
    unlabelled = [task_ids[i] for i in range(len(pool)) if i not in labelled]
    return {"id": created["id"], "task_ids": task_ids, "unlabelled": unlabelled}


def test_unauthenticated_calls_are_refused(stack):
    with ActivelabelClient(stack.url, token=None) as anonymous:
        with pytest.raises(ApiError) as exc:
            anonymous.list_projects()
    assert exc.value.status == 401 and exc.value.code == "UnauthorizedError"


def test_threshold_trains_and_promotes_a_model_by_itself(api, project):
    state = api.wait_for_model(project["id"], timeout=30)
    assert state["model_version"], state
    assert state["accepted_tasks"] >= MIN_COMPLETIONS and state["completions"] >= MIN_COMPLETIONS

    versions = api.model_versions(project["id"])
    active = [v for v in versions if v["active"]]
    assert len(active) == 1 and active[0]["model_version"] == state["model_version"]
    metrics = active[0]["metrics"]
    assert active[0]["n_train"] >= MIN_COMPLETIONS
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1 and metrics["method"]


def test_predict_answers_one_label_studio_result_per_input_in_order(api, project, sms):
    api.wait_for_model(project["id"], timeout=30)
    _, test = sms
    rows = test[:12]
    results = api.predict(project["id"], tasks=[{"data": {"text": row["text"]}} for row in rows])
    assert len(results) == len(rows)
    for result in results:
        assert result["model_version"].startswith("v")
        (item,) = result["result"]
        assert (item["from_name"], item["to_name"], item["type"]) == ("label", "text", "choices")
        assert item["value"]["choices"][0] in ("ham", "spam")
        assert 0.5 <= result["score"] <= 1.0
    # order: the same inputs one by one give the same answers
    singles = [api.predict(project["id"], samples=[{"text": row["text"]}])[0] for row in rows[:4]]
    assert [s["result"][0]["value"] for s in singles] == [r["result"][0]["value"] for r in results[:4]]


def wait_until(read, done, timeout=30):
    """Poll `read()` until `done(value)`; the stream handler runs in the stack's background pump."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_disagreeing_completions_do_not_accept_the_task(api, project):
    before = wait_until(lambda: api.training(project["id"]),
                        lambda s: s["completions"] >= N_COMPLETED and s["accepted_tasks"] >= N_COMPLETED)
    assert before["accepted_tasks"] == N_COMPLETED, before
    task_id = project["unlabelled"][0]
    for label, annotator in (("spam", "ann-a"), ("ham", "ann-b")):
        completion = choice_completion(label, annotator)
        api.add_completion(project["id"], task_id, completion["result"], completion["completed_by"])

    # the handler has judged the task once it records both completions on it
    task = wait_until(lambda: api.get_task(project["id"], task_id), lambda t: t["total_annotations"] == 2)
    assert task["total_annotations"] == 2, task
    assert task["is_labeled"] is False and len(task["annotations"]) == 2
    assert task["agreement"] is not None and task["agreement"] < 0.6
    after = wait_for_completions(api, project["id"], N_COMPLETED + 2)
    assert after["accepted_tasks"] == N_COMPLETED


def test_local_aws_requests_shows_what_a_flow_costs(stack, api, project):
    """`GET /local/aws-requests` (local only, admin token): every AWS request since the stack started,
    by service, operation and table; a token that is not admin is refused with a JSON 403."""
    import json
    import urllib.error
    import urllib.request

    def get(token):
        request = urllib.request.Request(f"{stack.url}/local/aws-requests", headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    before = get(stack.admin_token)["requests"]
    api.training(project["id"])
    after = get(stack.admin_token)["requests"]
    assert after and set(after[0]) == {"service", "operation", "table", "count"}
    dynamo = {(r["operation"], r["table"]): r["count"] for r in after if r["service"] == "dynamodb"}
    assert all(table for _, table in dynamo) and sum(dynamo.values()) > sum(
        r["count"] for r in before if r["service"] == "dynamodb")
    assert any(r["table"] is None for r in after if r["service"] != "dynamodb")
    with pytest.raises(urllib.error.HTTPError) as refused:
        get("not-a-token")
    assert refused.value.code == 401 and json.loads(refused.value.read())["Field"]
