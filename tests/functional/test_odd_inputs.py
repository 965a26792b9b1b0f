"""Inputs that answered 500 or were accepted against the contract (issue 26, items 8 and 9): each is
a 4xx naming the field now."""
import pytest

from tests.functional.helpers import import_texts, make_project
from tests.functional.test_model_registry import ls_credentials

IMAGE_CONFIG = ('<View><Image name="image" value="$image"/><Choices name="label" toName="image">'
                '<Choice value="a"/><Choice value="b"/></Choices></View>')


@pytest.mark.parametrize("version", ["³", "v²", "١", "1_0", "+1"])
def test_a_version_in_other_digits_is_a_400(api, version):
    project_id = make_project(api)
    answer = api.put(f"/api/projects/{project_id}/model-versions/{version}/active", {})
    assert answer.status_code == 400 and answer.json["Field"] == "version", answer.json


@pytest.mark.parametrize("value", ["²", "1_0", "١"])
def test_a_task_id_or_limit_in_other_digits_is_a_400(api, value):
    project_id = make_project(api)
    answer = api.get(f"/api/projects/{project_id}/tasks/{value}")
    assert answer.status_code == 400 and answer.json["Field"] == "task_id", answer.json
    answer = api.get(f"/api/projects/{project_id}/tasks?limit={value}")
    assert answer.status_code == 400 and answer.json["Field"] == "limit", answer.json


def test_a_webhook_with_a_superscript_annotation_id_is_a_400(api):
    project_id = make_project(api)
    task_id = import_texts(api, project_id, [{"text": "hi"}])[0]
    body = {"action": "ANNOTATION_CREATED", "project": {"id": 1},
            "task": {"id": "²", "data": {"text": "hi"}, "meta": {"activelabel_task_id": task_id}},
            "annotation": {"id": "²", "result": [], "completed_by": 1}}
    answer = api.post(f"/ls/webhook?project={project_id}", body, headers=ls_credentials(api, project_id))
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.json)


@pytest.mark.parametrize("url", ["s3://bucket:443/x.png", "s3://x@bucket/x.png", "s3://bucket/", "s3://B_/x.png"])
def test_an_s3_url_that_names_no_bucket_is_refused_at_import(api, url):
    answer = api.post("/api/projects", {"title": "img", "label_config": IMAGE_CONFIG, "ml": {}})
    project_id = answer.json["id"]
    answer = api.post(f"/api/projects/{project_id}/tasks", [{"data": {"image": url}}])
    assert answer.status_code == 400 and answer.json["Field"] == "tasks[0].data.image", answer.json
    assert api.post(f"/api/projects/{project_id}/tasks", [{"data": {"image": "s3://media-bucket/a/b.png"}}]) \
        .status_code == 201


def test_an_s3_url_that_names_no_bucket_is_a_media_error_not_a_raw_botocore_one(aws):
    from chalicelib.store import media

    for url in ("s3://bucket:443/x.png", "s3://x@bucket/x.png"):
        with pytest.raises(media.MediaError):
            media.fetch(url)


def test_an_integer_a_double_cannot_hold_is_a_400_naming_where(api):
    project_id = make_project(api)
    raw = '[{"data": {"text": "x"}, "meta": {"w": 1' + "0" * 400 + '}}]'
    answer = api.call("POST", f"/api/projects/{project_id}/tasks", raw=raw)
    assert answer.status_code == 400 and answer.json["Field"] == "body[0].meta.w", answer.json
    ok = api.call("POST", f"/api/projects/{project_id}/tasks", raw='[{"data": {"text": "x"}, "meta": {"w": 1' + "0" * 300 + '}}]')
    assert ok.status_code == 201, ok.json


def test_a_lead_time_dynamodb_cannot_store_is_rounded_or_refused(api):
    """Found by the schemathesis run's positive cases: 1e-200 seconds answered 500 (DynamoDB's
    numbers stop at 1e-130), 1e200 too (past 9.9e125)."""
    from activelabel_client.datasets import SMS_LABEL_CONFIG

    project_id = api.post("/api/projects", {"title": "t", "label_config": SMS_LABEL_CONFIG}).json["id"]
    task_id = import_texts(api, project_id, [{"text": "hi"}])[0]
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["spam"]}}]
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                      {"result": result, "lead_time": 1e-200, "completed_by": "a"})
    assert answer.status_code == 201 and answer.json["lead_time"] == 0, answer.json
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions",
                      {"result": result, "lead_time": 1e200, "completed_by": "b"})
    assert answer.status_code == 400 and answer.json["Field"] == "lead_time", answer.json
