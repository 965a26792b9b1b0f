"""Regression tests for the adversarial review (issue 13): hostile input is a 4xx naming the field,
nothing is written, and secrets and model objects do not leak."""
import pytest

from tests.functional.helpers import import_texts, make_project
from tests.functional.ls_fakes import FakeMLBackend, serving

TEXT_TASK = {"data": {"text": "hello"}}


def _custom(url, **auth):
    return {"model": "custom", "custom_backend": {"url": url, **auth}}


@pytest.mark.parametrize("raw,field", [
    ('[{"data": {"text": "x", "n": NaN}}]', "body[0].data.n"),
    ('[{"data": {"text": "x"}, "meta": {"w": Infinity}}]', "body[0].meta.w"),
    ('[{"data": {"text": "x"}, "meta": {"w": -Infinity}}]', "body[0].meta.w"),
    ('[{"data": {"text": "x"}, "meta": {"w": 1e999}}]', "body[0].meta.w"),
])
def test_non_finite_numbers_in_an_import_are_refused_naming_the_field(api, raw, field):
    project_id = make_project(api)
    answer = api.post(f"/api/projects/{project_id}/tasks", raw=raw)
    assert answer.status_code == 400, answer.json
    assert answer.json["Field"] == field and "finite" in answer.json["Message"]
    assert api.get(f"/api/projects/{project_id}/tasks").json["tasks"] == []


def test_non_finite_numbers_in_a_completion_result_are_refused(api):
    project_id = make_project(api)
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    raw = ('{"result": [{"from_name": "label", "to_name": "text", "type": "choices", '
           '"value": {"choices": ["spam"]}, "score": NaN}]}')
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", raw=raw)
    assert answer.status_code == 400 and answer.json["Field"] == "result[0].score", answer.json
    assert api.get(f"/api/projects/{project_id}/tasks/{task_id}/completions").json["completions"] == []


@pytest.mark.parametrize("size", [257, 200_000])
def test_an_oversized_completed_by_is_refused_before_anything_is_written(api, size):
    project_id = make_project(api)
    [task_id] = import_texts(api, project_id, [{"text": "x"}])
    body = {"result": [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["spam"]}}],
            "completed_by": "a" * size}
    answer = api.post(f"/api/projects/{project_id}/tasks/{task_id}/completions", body)
    assert answer.status_code == 400 and answer.json["Field"] == "completed_by", answer.json
    assert api.get(f"/api/projects/{project_id}/tasks/{task_id}/completions").json["completions"] == []
    imported = api.post(f"/api/projects/{project_id}/tasks", [{**TEXT_TASK, "annotations": [body]}])
    assert imported.status_code == 400 and imported.json["Field"] == "tasks[0].annotations[0].completed_by"
    assert len(api.get(f"/api/projects/{project_id}/tasks").json["tasks"]) == 1


@pytest.mark.parametrize("backend,field", [
    ({"url": "http://example.com/", "basic_auth_pass": 7}, "ml.custom_backend.basic_auth_pass"),
    ({"url": "http://example.com/", "basic_auth_pass": {"a": 1}}, "ml.custom_backend.basic_auth_pass"),
    ({"url": "http://example.com/", "basic_auth_pass": True}, "ml.custom_backend.basic_auth_pass"),
    ({"url": "http://example.com/", "basic_auth_user": ["u"]}, "ml.custom_backend.basic_auth_user"),
    ({"url": "http://[::1/"}, "ml.custom_backend.url"),
    ({"url": "http://" + "a" * 70_000 + "/"}, "ml.custom_backend.url"),
    ({"url": "http://" + "a" * 300 + ".com/"}, "ml.custom_backend.url"),
])
def test_malformed_custom_backends_are_a_400_naming_the_field(api, backend, field):
    project_id = make_project(api)
    before = api.get(f"/api/projects/{project_id}/ml").json
    answer = api.put(f"/api/projects/{project_id}/ml", {"model": "custom", "custom_backend": backend})
    assert answer.status_code == 400 and answer.json["Field"] == field, answer.json
    assert api.get(f"/api/projects/{project_id}/ml").json == before


def test_a_stored_backend_password_is_not_sent_to_a_new_url_or_user(api):
    project_id = make_project(api)
    with serving(FakeMLBackend(user="u", password="p")) as first, serving(FakeMLBackend()) as other:
        assert api.put(f"/api/projects/{project_id}/ml",
                       _custom(first.url, basic_auth_user="u", basic_auth_pass="p")).status_code == 200
        shown = api.get(f"/api/projects/{project_id}/ml").json["custom_backend"]
        for change in ({"url": other.url}, {"basic_auth_user": "someone-else"}):
            answer = api.put(f"/api/projects/{project_id}/ml", {"custom_backend": {**shown, **change}})
            assert answer.status_code == 400, answer.json
            assert answer.json["Field"] == "ml.custom_backend.basic_auth_pass"
            assert "again" in answer.json["Message"]
        assert other.paths() == []  # never contacted, so never sent the stored password
        assert api.get(f"/api/projects/{project_id}/ml").json["custom_backend"] == shown
        # the same url and user keep the stored password
        assert api.put(f"/api/projects/{project_id}/ml", {"custom_backend": shown}).status_code == 200


class _ActivelabelLookalike(FakeMLBackend):
    """Answers /health as activelabel does (what a project's own /ls/ URL answers)."""

    def answer(self, method, path, headers, body):
        if path == "/health":
            return 200, {"status": "UP", "model_class": "activelabel"}
        return super().answer(method, path, headers, body)


def test_a_custom_backend_that_is_activelabel_is_refused(api):
    project_id = make_project(api)
    with serving(_ActivelabelLookalike()) as backend:
        answer = api.put(f"/api/projects/{project_id}/ml", _custom(backend.url))
        assert answer.status_code == 400 and answer.json["Field"] == "ml.custom_backend.url", answer.json
        assert "activelabel itself" in answer.json["Message"]
        assert backend.paths() == ["/health"]  # refused before /setup


def test_forwarding_depth_is_bounded_by_the_hop_header(api):
    project_id = make_project(api)
    with serving(FakeMLBackend()) as backend:
        assert api.put(f"/api/projects/{project_id}/ml", _custom(backend.url)).status_code == 200
        headers = {"Authorization": "Token test-admin-token", "Content-Type": "application/json"}
        body = {"samples": [{"text": "win a free prize"}]}
        first = api.post(f"/api/projects/{project_id}/predict", body, headers=headers)
        assert first.status_code == 200, first.json
        assert {h.get("X-Activelabel-Hops") for m, p, h, _ in backend.calls if p == "/predict"} == {"1"}
        relayed = api.post(f"/api/projects/{project_id}/predict", body, headers={**headers, "X-Activelabel-Hops": "1"})
        assert relayed.status_code == 200 and backend.calls[-1][2].get("X-Activelabel-Hops") == "2"
        before = len(backend.calls)
        for hops in ("2", "7", "junk"):
            looped = api.post(f"/api/projects/{project_id}/predict", body, headers={**headers, "X-Activelabel-Hops": hops})
            assert looped.status_code == 508 and looped.json["Code"] == "LoopDetectedError", looped.json
        assert len(backend.calls) == before  # the refused ones never left
