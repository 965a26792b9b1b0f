"""Bad input gets a 4xx naming the field, and nothing is written."""
import json

import pytest

from activelabel_client.datasets import SMS_LABEL_CONFIG
from tests.functional.helpers import complete, import_texts, make_project, training

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<View><Text name="text" value="$text"/><Choices name="c" toName="text"><Choice value="&lol2;"/></Choices></View>"""


def routes(chalice_app):
    for path, methods in chalice_app.routes.items():
        for method in methods:
            yield method, path


def concrete(path):
    return path.replace("{project_id}", "1").replace("{task_id}", "1").replace("{completion_id}", "1.1")


def test_every_api_route_requires_a_token(api, chalice_app):
    checked = 0
    for method, path in routes(chalice_app):
        if not path.startswith("/api/"):
            continue
        for headers in ({}, {"Authorization": "Token wrong"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            answer = api.call(method, concrete(path), body={}, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.json)
            assert answer.json["Code"] == "UnauthorizedError" and "Authorization" in answer.json["Message"] or \
                answer.json.get("Field") == "Authorization"
        checked += 1
    assert checked >= 17


def test_health_is_public(api):
    assert api.get("/health", headers={}).json["status"] == "UP"


@pytest.mark.parametrize("body,field", [
    ({"title": "x"}, "label_config"),
    ({"title": "x", "label_config": "<View><Text name='t' value='$t'/>"}, "label_config"),
    ({"title": "x", "label_config": BILLION_LAUGHS}, "label_config"),
    ({"title": 3, "label_config": SMS_LABEL_CONFIG}, "title"),
    ({"title": "x", "label_config": SMS_LABEL_CONFIG, "ml": {"agreement_threshold": 2}}, "ml.agreement_threshold"),
    ({"title": "x", "label_config": SMS_LABEL_CONFIG, "ml": {"model": "ner"}}, "ml.model"),
    ({"title": "x", "label_config": SMS_LABEL_CONFIG, "colour": "red"}, "colour"),
])
def test_bad_projects_are_refused_and_not_stored(api, body, field):
    answer = api.post("/api/projects", body)
    assert answer.status_code == 400, answer.json
    assert answer.json["Field"] == field and field in answer.json["Message"]
    assert api.get("/api/projects").json["projects"] == []


def test_malformed_json_is_a_400_naming_the_body(api):
    answer = api.post("/api/projects", raw="{not json")
    assert answer.status_code == 400 and answer.json["Field"] == "body"


def test_an_import_with_one_bad_task_writes_nothing(api):
    project_id = make_project(api)
    answer = api.post(f"/api/projects/{project_id}/tasks", [
        {"data": {"text": "fine"}}, {"data": {"txt": "wrong key"}}, {"data": {"text": "fine too"}}])
    assert answer.status_code == 400
    assert answer.json["Field"].startswith("tasks[1].data") and "text" in answer.json["Message"]
    assert api.get(f"/api/projects/{project_id}/tasks").json["tasks"] == []
    # ids were not consumed either: the next import starts at 1
    assert import_texts(api, project_id, [{"text": "ok"}]) == ["1"]


def test_an_import_with_a_bad_annotation_writes_nothing(api, pump):
    project_id = make_project(api)
    bad = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["Spam"]}}]
    answer = api.post(f"/api/projects/{project_id}/tasks", [{"data": {"text": "x"}, "annotations": [{"result": bad}]}])
    assert answer.status_code == 400 and "Spam" in answer.json["Message"]
    assert "tasks[0].annotations[0].result[0].value.choices" in answer.json["Field"]
    pump.drain()
    assert training(api, project_id)["completions"] == 0


@pytest.mark.parametrize("result,field", [
    ([{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["maybe"]}}],
     "result[0].value.choices"),
    ([{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["ham"]}}],
     "result[0].from_name"),
    ([{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": ["ham"]}}],
     "result[0].to_name"),
    ([{"from_name": "label", "to_name": "text", "type": "labels", "value": {"choices": ["ham"]}}],
     "result[0].type"),
    ([{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["ham", "spam"]}}],
     "result[0].value.choices"),
    ("ham", "result"),
])
def test_bad_completions_are_refused_and_not_stored(api, pump, result, field):
    project_id = make_project(api)
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                      {"result": result, "completed_by": "a"})
    assert answer.status_code == 400, answer.json
    assert answer.json["Field"].startswith(field), answer.json
    assert api.get(f"/api/projects/{project_id}/tasks/{task_id}/completions").json["completions"] == []
    pump.drain()
    assert training(api, project_id)["completions"] == 0


def test_not_found_and_bad_ids(api):
    assert api.get("/api/projects/999").status_code == 404
    project_id = make_project(api)
    assert api.get(f"/api/projects/{project_id}/tasks/77").status_code == 404
    answer = api.get(f"/api/projects/{project_id}/tasks/abc")
    assert answer.status_code == 400 and answer.json["Field"] == "task_id"
    answer = api.post(f"/api/projects/{project_id}/tasks/5/completions",
                      {"result": [], "completed_by": "a"})
    assert answer.status_code == 404
    assert api.delete(f"/api/projects/{project_id}/completions/9.9").status_code == 404


def test_ml_settings_partial_update_and_refusal(api):
    project_id = make_project(api, min_completions=20)
    answer = api.put(f"/api/projects/{project_id}/ml", {"agreement_threshold": 0.8})
    assert answer.status_code == 200 and answer.json["min_completions"] == 20
    answer = api.put(f"/api/projects/{project_id}/ml", {"overlap": 0, "min_completions": 3})
    assert answer.status_code == 400 and answer.json["Field"] == "ml.overlap"
    settings = api.get(f"/api/projects/{project_id}/ml").json
    assert settings["min_completions"] == 20 and settings["agreement_threshold"] == 0.8 and settings["overlap"] == 1


def test_models_fit_the_label_config(api):
    project_id = make_project(api)
    models = api.get(f"/api/projects/{project_id}/models").json
    assert [m["name"] for m in models["models"]] == ["text_classifier"]
    image_config = ('<View><Image name="img" value="$image"/><RectangleLabels name="box" toName="img">'
                    '<Label value="car"/></RectangleLabels></View>')
    answer = api.post("/api/projects", {"title": "boxes", "label_config": image_config})
    assert answer.status_code == 201 and answer.json["ml"]["model"] is None
    models = api.get(f"/api/projects/{answer.json['id']}/models").json
    assert models["models"] == [] and models["unsupported_controls"][0]["reason"] == "needs a custom model"


def test_train_and_predict_conflicts(api):
    project_id = make_project(api, min_completions=5)
    answer = api.post(f"/api/projects/{project_id}/train")
    assert answer.status_code == 409 and "min_completions" in answer.json["Message"]
    answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"text": "x"}}]})
    assert answer.status_code == 409
    answer = api.post(f"/api/projects/{project_id}/predict", {"tasks": [{"data": {"body": "x"}}]})
    assert answer.status_code == 400 and answer.json["Field"].startswith("tasks[0].data")
    answer = api.post(f"/api/projects/{project_id}/predict", {"items": []})
    assert answer.status_code == 400 and answer.json["Field"] == "tasks"


def test_pagination_walks_every_task_once(api):
    project_id = make_project(api)
    import_texts(api, project_id, [{"text": f"message {i}"} for i in range(25)])
    seen, cursor = [], None
    while True:
        path = f"/api/projects/{project_id}/tasks?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path).json
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == list(range(1, 26))
    assert api.get(f"/api/projects/{project_id}/tasks?limit=0").status_code == 400
    assert api.get(f"/api/projects/{project_id}/tasks?cursor=%%%").status_code == 400


def test_export_has_both_namings(api, pump):
    project_id = make_project(api)
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    complete(api, project_id, task_id, "ham")
    exported = api.get(f"/api/projects/{project_id}/export").json["tasks"]
    assert exported[0]["annotations"][0]["result"][0]["value"]["choices"] == ["ham"]
    old = api.get(f"/api/projects/{project_id}/export?naming=completions").json["tasks"]
    assert "completions" in old[0] and "annotations" not in old[0]
    # the export re-imports as is
    answer = api.post(f"/api/projects/{project_id}/tasks", json.loads(json.dumps(exported)))
    assert answer.status_code == 201, answer.json
