"""Limits: every oversized or hostile input is refused with a 4xx naming the field, nothing is
written, and refusing it costs little memory. (Over HTTP, a 50 MB body: tests/e2e/test_stack_under_load_http.py.)"""
import json
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from activelabel_client.datasets import SMS_LABEL_CONFIG
from chalicelib.api.http import MAX_BODY_BYTES, MAX_JSON_DEPTH
from chalicelib.services.completions import MAX_COMPLETIONS_PER_TASK, MAX_ITEM_JSON_BYTES
from chalicelib.services.tasks import MAX_TASKS_PER_IMPORT
from chalicelib.errors import LabelConfigError, ValidationError
from chalicelib.labeling.config import MAX_CONFIG_CHARS, MAX_DEPTH, parse_label_config
from chalicelib.labeling.validation import MAX_TEXT_CHARS
from chalicelib.store import completions as completion_db
from tests.functional.helpers import import_texts, make_project, training

ENTITIES = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BILLION_LAUGHS = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{ENTITIES}]>'
                  '<View><Text name="text" value="$text"/><Choices name="c" toName="text">'
                  '<Choice value="&lol9;"/></Choices></View>')  # 10^9 "lol"s once expanded
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE v [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                   '<View><Text name="t" value="$t"/><Choices name="c" toName="t"><Choice value="&x;"/>'
                   '</Choices></View>')


def peak_bytes(call):
    tracemalloc.start()
    try:
        call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def refused(call):
    def run():
        with pytest.raises(LabelConfigError):
            call()
    return run


def test_billion_laughs_is_refused_without_expanding_it():
    peak = peak_bytes(refused(lambda: parse_label_config(BILLION_LAUGHS)))
    assert peak < 2_000_000, peak  # expanded, it would be gigabytes


HOSTILE_CONFIGS = [
    (BILLION_LAUGHS, "DTD"),
    (EXTERNAL_ENTITY, "DTD"),
    ("<View>" * (MAX_DEPTH + 5) + "</View>" * (MAX_DEPTH + 5), "depth"),
    ("<View>" + "<Text name='t' value='$t'/>" * (MAX_CONFIG_CHARS // 20) + "</View>", "size"),
    ("<View>" + "<View/>" * 3000 + "</View>", "elements"),
]


def test_hostile_label_configs_are_refused_by_the_api_naming_the_field(api):
    for xml, words in HOSTILE_CONFIGS:
        answer = api.post("/api/projects", {"title": "x", "label_config": xml})
        assert answer.status_code == 400 and answer.json["Field"] == "label_config", answer.json
        assert words in answer.json["Message"]
    assert api.get("/api/projects").json["projects"] == []


def test_a_body_over_the_limit_is_413_and_writes_nothing(api):
    raw = json.dumps({"title": "x" * (MAX_BODY_BYTES + 1), "label_config": SMS_LABEL_CONFIG})
    answer = api.post("/api/projects", raw=raw)
    assert answer.status_code == 413 and answer.json["Field"] == "body", answer.json
    assert api.get("/api/projects").json["projects"] == []


def test_deeply_nested_json_is_a_400_not_a_crash(api):
    project_id = make_project(api)
    for depth in (MAX_JSON_DEPTH + 1, 200_000):
        raw = "[" * depth + "]" * depth
        answer = api.post(f"/api/projects/{project_id}/tasks", raw=raw)
        assert answer.status_code == 400 and answer.json["Field"] == "body", answer.json
        assert "deeper" in answer.json["Message"]


BAD_IMPORTS = [
    ([{"data": {"text": "x" * (MAX_TEXT_CHARS + 1)}}], "tasks[0].data.text"),
    ([{"data": {"text": "ok", **{f"k{i}": "v" * 1000 for i in range(MAX_ITEM_JSON_BYTES // 1000)}}}], "tasks[0]"),
    ([{"data": {"text": 42}}], "tasks[0].data.text"),
    ([{"data": "just a string"}], "tasks[0].data"),
    ([{"data": {"text": "x"}, "annotations": "none"}], "tasks[0].annotations"),
    ([{"data": {"text": "x"}}] * (MAX_TASKS_PER_IMPORT + 1), "body"),
    ([], "body"),
]
BAD_COMPLETIONS = [
    ({"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                  "value": {"choices": ["ham"]}}], "completed_by": "a", "was_cancelled": "yes"}, "was_cancelled"),
    ({"result": {"choices": ["ham"]}, "completed_by": "a"}, "result"),
    ({"result": [{"from_name": "label", "to_name": "text", "type": "choices",
                  "value": {"choices": ["ham"], "x": "y" * MAX_ITEM_JSON_BYTES}}], "completed_by": "a"}, "result"),
]


def test_bad_imports_and_completions_name_the_field_and_write_nothing(api, pump):
    project_id = make_project(api)
    for tasks, field in BAD_IMPORTS:
        answer = api.post(f"/api/projects/{project_id}/tasks", tasks)
        assert answer.status_code == 400 and answer.json["Field"].startswith(field), (field, answer.json)
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/tasks").json["tasks"] == []
    assert api.get(f"/api/projects/{project_id}").json["task_count"] == 0
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    for body, field in BAD_COMPLETIONS:
        answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", body)
        assert answer.status_code == 400 and answer.json["Field"].startswith(field), (field, answer.json)
    pump.drain()
    assert training(api, project_id)["completions"] == 0


def test_the_completions_per_task_limit_holds_under_concurrency(api, atomic_requests):
    """108 writers race for the last ids of a task: exactly 100 get one (one conditional update each)."""
    project_id = make_project(api, min_completions=1000)
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    def add(i):
        completion = {"result": [], "completed_by": f"racer-{i}"}  # one completion per annotator and task
        try:
            return completion_db.add_completion(project_id, int(task_id), completion, MAX_COMPLETIONS_PER_TASK)
        except ValidationError as exc:
            return exc

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(MAX_COMPLETIONS_PER_TASK + 8)))
    stored = [r.completion_id for r in results if not isinstance(r, ValidationError)]
    assert sorted(stored, key=lambda c: int(c.split(".")[1])) == [
        f"{task_id}.{n}" for n in range(1, MAX_COMPLETIONS_PER_TASK + 1)]
    assert sum(isinstance(r, ValidationError) for r in results) == 8
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", {"result": [], "completed_by": "late"})
    assert answer.status_code == 400 and answer.json["Field"] == "task_id"
    assert str(MAX_COMPLETIONS_PER_TASK) in answer.json["Message"]
    completions = api.get(f"/api/projects/{project_id}/tasks/{task_id}/completions").json["completions"]
    assert len(completions) == MAX_COMPLETIONS_PER_TASK


def test_wrong_types_in_settings_name_the_field(api):
    for ml, field in [({"min_completions": "3"}, "ml.min_completions"),
                      ({"min_completions": True}, "ml.min_completions"),
                      ({"agreement_threshold": "high"}, "ml.agreement_threshold"),
                      ({"sampling": 7}, "ml.sampling"),
                      ({"retrain_every": 0}, "ml.retrain_every")]:
        answer = api.post("/api/projects", {"title": "x", "label_config": SMS_LABEL_CONFIG, "ml": ml})
        assert answer.status_code == 400 and answer.json["Field"] == field, answer.json
