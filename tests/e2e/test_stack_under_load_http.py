"""The local stack over real HTTP under load: concurrent clients, a 50 MB body, schemathesis.

Many clients racing on one task or one project must give exact counters and one training at a time
with model versions that only move forward. (The completions-per-task limit under contention:
tests/functional/test_limits.py.)
A 50 MB body is refused from its Content-Length, before the server reads it.

schemathesis: the OpenAPI document is fetched from the running stack (`GET /api/openapi.json`);
every operation gets `EXAMPLES_PER_OPERATION` schema-valid cases and `NEGATIVE_EXAMPLES_PER_OPERATION`
schema-invalid ones (derandomized so every run sends the same cases) with the admin token, against
a project that has tasks, completions and a trained model, with path ids (and the values the
document cannot describe: the label config, the data keys and control names, cursors) drawn from
that project's, so generated requests reach past the 404s. No case may get a 5xx, and the document
must say what the validation does: a valid case is not refused (positive data acceptance; a 404 or
a 409 for the project's state is no refusal), an invalid one is (negative data rejection; unknown
query parameters are ignored, as HTTP APIs do). The number of cases is printed.
"""
import json
import socket
import time
import tracemalloc
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from activelabel_client.client import ActivelabelClient, ApiError
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
from tests.functional.helpers import balanced_rows

THREADS = 8
EXAMPLES_PER_OPERATION = 20
NEGATIVE_EXAMPLES_PER_OPERATION = 10


@pytest.fixture(scope="module")
def stack():
    from chalicelib.local.server import start_stack

    running = start_stack(port=0, schedule_every=None, poll_interval=0.05)
    try:
        yield running
    finally:
        running.stop()


def client(stack):
    return ActivelabelClient(stack.url, stack.admin_token, timeout=60)


def in_parallel(stack, calls):
    """Run `calls` (functions of a client) on THREADS threads, one client each; results in order."""
    clients = [client(stack) for _ in range(THREADS)]
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(call, clients[i % THREADS]) for i, call in enumerate(calls)]
            return [f.result() for f in futures]
    finally:
        for c in clients:
            c.close()


def settle(api, project_id, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    state = api.training(project_id)
    while not predicate(state) and time.monotonic() < deadline:
        time.sleep(0.1)
        state = api.training(project_id)
    return state


def post_completion(project_id, task_id, label, annotator):
    completion = choice_completion(label, annotator)

    def call(c):
        try:
            return c.add_completion(project_id, task_id, completion["result"], completion["completed_by"])
        except ApiError as exc:
            return exc

    return call


def test_concurrent_completions_on_one_task_get_distinct_ids_and_exact_counts(stack):
    with client(stack) as api:
        project = api.create_project("race", SMS_LABEL_CONFIG, ml={"min_completions": 1000})
        [task_id] = api.import_tasks(project["id"], [{"data": {"text": "one task, many hands"}}], progress=False)
        n = 32
        results = in_parallel(stack, [post_completion(project["id"], task_id, "spam", f"ann-{i}") for i in range(n)])
        assert all(isinstance(r, dict) for r in results), [r for r in results if not isinstance(r, dict)][:3]
        assert sorted(int(r["id"].split(".")[1]) for r in results) == list(range(1, n + 1))
        state = settle(api, project["id"], lambda s: s["completions"] >= n)
        assert state["completions"] == n and state["accepted_tasks"] == 1
        task = api.get_task(project["id"], task_id)
        assert task["total_annotations"] == n and task["agreement"] == 1.0


def test_concurrent_train_requests_queue_one_training_and_versions_move_forward(stack):
    rows = balanced_rows(30)
    trainings_before = stack.pump.delivered["train_worker"]
    with client(stack) as api:
        project = api.create_project("trains", SMS_LABEL_CONFIG,
                                     ml={"min_completions": 20, "retrain_every": 1000})
        task_ids = api.import_tasks(project["id"], [{"data": {"text": r["text"]}} for r in rows], progress=False)
        in_parallel(stack, [post_completion(project["id"], t, r["label"], "ann") for t, r in zip(task_ids, rows)])
        api.wait_for_model(project["id"], timeout=60)
        # the model is promoted (and rescoring queued) before the request is marked finished
        first = settle(api, project["id"], lambda s: s["trained_seq"] >= 1 and s["state"] == "idle")
        assert first["model_version"] == "v1" and first["request_seq"] == 1

        for round_ in (2, 3):
            with stack.pump.holding("train_worker"):  # all 12 arrive while the request is still queued
                answers = in_parallel(stack, [lambda c: c.train(project["id"]) for _ in range(12)])
            assert {a["request_seq"] for a in answers} == {round_}, answers
            state = settle(api, project["id"], lambda s: s["trained_seq"] >= round_ and s["state"] == "idle")
            assert state["model_version"] == f"v{round_}", state
        versions = api.model_versions(project["id"])
        assert [v["model_version"] for v in versions] == ["v3", "v2", "v1"]  # one per request, no more
        assert [v["active"] for v in versions] == [True, False, False]
        # the pump counts a delivery when its worker thread hands the batch back, which may be just after
        # the state the handler wrote is visible: wait for the count (bounded), then check it
        deadline = time.monotonic() + 10
        while stack.pump.delivered["train_worker"] - trainings_before < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stack.pump.delivered["train_worker"] - trainings_before == 3


def test_a_50_mb_body_is_refused_before_it_is_read(stack):
    """The server answers 413 after 1 MB of a 50 MB upload: it never waits for (or holds) the rest."""
    url = urlparse(stack.url)
    size, chunk = 50 * 1024 * 1024, b"x" * (1024 * 1024)
    tracemalloc.start()
    try:
        with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
            sock.sendall((f"POST /api/projects HTTP/1.1\r\nHost: {url.netloc}\r\n"
                          f"Authorization: Token {stack.admin_token}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {size}\r\n\r\n").encode() + chunk)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 100:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    error = json.loads(body)
    assert error["Code"] == "PayloadTooLargeError" and error["Field"] == "body"
    # tracemalloc sees every thread of the process (the pump may be training meanwhile): the bound
    # is half the body, which holding the upload would exceed, not a tight budget
    assert peak < 25 * 1024 * 1024, peak
    with client(stack) as api:
        assert all(p["title"] != "x" for p in api.list_projects())


@pytest.fixture(scope="module")
def seeded(stack):
    """Project 1 with 24 labelled tasks and a model, so generated requests reach deep code paths."""
    rows = balanced_rows(24)
    with ActivelabelClient(stack.url, stack.admin_token, timeout=60) as api:
        project = api.create_project("fuzzed", SMS_LABEL_CONFIG, ml={"min_completions": 20})
        task_ids = api.import_tasks(project["id"], [{"data": {"text": r["text"]}} for r in rows], progress=False)
        for task_id, row in zip(task_ids, rows):
            completion = choice_completion(row["label"], "ann")
            api.add_completion(project["id"], task_id, completion["result"], completion["completed_by"])
        api.wait_for_model(project["id"], timeout=60)
        return project["id"]


def pin_ids(document, project_id, cursors):
    """Path ids drawn from the seeded project's, so generated requests reach past the 404s; and the
    values the document cannot describe (they depend on the project: its label config, the keys
    its tasks' data need, its control names, its model kinds and versions; cursors the API issued)
    drawn from the seeded project's, so a request the document calls valid is one the API must take
    (positive data acceptance)."""
    pinned = {"project_id": [project_id], "task_id": [str(i) for i in range(1, 6)],
              "completion_id": ["1.1", "2.1", "9.9"]}
    for path, methods in document["paths"].items():
        for operation in methods.values():
            for parameter in operation["parameters"]:
                if parameter["in"] == "path" and parameter["name"] in pinned:
                    parameter["schema"] = {"type": "string", "enum": pinned[parameter["name"]]}
                if parameter["name"] == "cursor":
                    parameter["schema"] = {"type": "string", "enum": cursors.get(path, [""])}
                if parameter["name"] == "annotator":  # the admin token must name who the task is for
                    parameter["required"] = True
            _pin_values(operation, project_id)


def _pin_values(node, project_id):
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["spam"]}}]
    data = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1,
                                                                            "maxLength": 1000}}}
    values = {"label_config": {"type": "string", "enum": [SMS_LABEL_CONFIG]}, "data": data,
              "result": {"type": "array", "enum": [result, []]},
              "model": {"type": "string", "enum": ["text_classifier"]},
              "custom_backend": {"type": "object", "nullable": True, "enum": [None]},
              "projects": {"enum": ["*", [project_id]]}, "pinned_version": {"type": "integer", "enum": [1]},
              "samples": {"type": "array", "items": data}}
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name in list(properties):
                if name in values:
                    properties[name] = values[name]
        for child in node.values():
            _pin_values(child, project_id)
    elif isinstance(node, list):
        for child in node:
            _pin_values(child, project_id)


def test_no_generated_request_causes_a_server_error(stack, seeded):
    import requests
    import schemathesis

    headers = {"Authorization": f"Token {stack.admin_token}"}
    document = requests.get(f"{stack.url}/api/openapi.json", headers=headers, timeout=30).json()
    cursors = {path: ["", requests.get(f"{stack.url}{path.replace('{project_id}', seeded)}?limit=1", headers=headers,
                                       timeout=30).json().get("next") or ""]
               for path in ("/api/projects", "/api/projects/{project_id}/tasks", "/api/projects/{project_id}/suspects")}
    pin_ids(document, seeded, cursors)
    schema = schemathesis.openapi.from_dict(document)
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        positive_data_acceptance,
        response_schema_conformance,
        status_code_conformance,
    )

    # positive data acceptance: a request the document calls valid is not refused (a 409 for the
    # project's state, a 404 for an id, are not refusals); negative data rejection: one it calls
    # invalid is refused (4xx), so the document says what the validation does
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              positive_data_acceptance, negative_data_rejection]
    server_errors, nonconforming, cases, statuses = [], [], {"n": 0}, Counter()
    session = requests.Session()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document["paths"].values()) >= 24
    # destructive operations last, so the others run against the seeded project
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path == "/api/projects/{project_id}"))
    from schemathesis import GenerationMode

    for operation, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE,
                                                                           GenerationMode.NEGATIVE)]:
        examples = EXAMPLES_PER_OPERATION if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES_PER_OPERATION

        @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            cases["n"] += 1
            if case.headers and "Idempotency-Key" in case.headers and mode is GenerationMode.POSITIVE:
                case.headers["Idempotency-Key"] = str(uuid.uuid4())  # reuse with another body is a 422 by design
            response = case.call(base_url=stack.url, session=session, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append((operation.method.upper(), operation.path, response.status_code,
                                      case.as_curl_command(headers=headers, base_url=stack.url),
                                      response.text[:300]))
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except (FailureGroup, AssertionError) as failure:
                if "query: violates `additionalProperties`" in str(failure):
                    return  # unknown query parameters are ignored, as HTTP APIs do; the document lists the known
                nonconforming.append((operation.method.upper(), operation.path, response.status_code,
                                      str(failure)[:300]))

        try:
            run()
        except Unsatisfiable:  # nothing of the operation can be made invalid (no body, no parameters)
            assert mode is GenerationMode.NEGATIVE, operation.path
    print(f"\nschemathesis: {cases['n']} cases over {len(operations)} operations, checks "
          f"{[check.__name__ for check in checks]}: {len(server_errors)} server errors, {len(nonconforming)} "
          f"responses not conforming to the schema; statuses {dict(sorted(statuses.items()))}")
    assert server_errors == []
    assert nonconforming == [], nonconforming[:5]
    assert cases["n"] >= 5 * len(operations)
    assert sum(n for status, n in statuses.items() if status < 300) >= len(operations)  # not all refused
