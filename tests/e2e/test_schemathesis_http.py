"""schemathesis over the whole API on the local stack: no generated request may cause a 5xx.

The OpenAPI document is fetched from the running stack (`GET /api/openapi.json`); every operation
gets `EXAMPLES_PER_OPERATION` generated cases (valid and invalid, derandomized so every run sends the
same cases) with the admin token, against a project that has tasks, completions and a trained model,
so the generated ids often hit real objects ("1"). The number of cases is printed.
"""
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from activelabel_client.client import ActivelabelClient
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
from tests.functional.helpers import balanced_rows

EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def stack():
    from chalicelib.local.server import start_stack

    running = start_stack(port=0, schedule_every=None, poll_interval=0.05)
    try:
        yield running
    finally:
        running.stop()


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


def pin_ids(document, project_id):
    """Path ids drawn from the seeded project's, so generated requests reach past the 404s."""
    pinned = {"project_id": [project_id], "task_id": [str(i) for i in range(1, 6)] + ["0", "x"],
              "completion_id": ["1.1", "2.1", "9.9"]}
    for methods in document["paths"].values():
        for operation in methods.values():
            for parameter in operation["parameters"]:
                if parameter["in"] == "path" and parameter["name"] in pinned:
                    parameter["schema"] = {"type": "string", "enum": pinned[parameter["name"]]}


def test_no_generated_request_causes_a_server_error(stack, seeded):
    import requests
    import schemathesis

    headers = {"Authorization": f"Token {stack.admin_token}"}
    document = requests.get(f"{stack.url}/api/openapi.json", headers=headers, timeout=30).json()
    pin_ids(document, seeded)
    schema = schemathesis.openapi.from_dict(document)
    server_errors, cases, statuses = [], {"n": 0}, Counter()
    session = requests.Session()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document["paths"].values()) >= 24
    # destructive operations last, so the others run against the seeded project
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path == "/api/projects/{project_id}"))
    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def run(case):
            cases["n"] += 1
            response = case.call(base_url=stack.url, session=session, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append((operation.method.upper(), operation.path, response.status_code,
                                      case.as_curl_command(headers=headers, base_url=stack.url),
                                      response.text[:300]))

        run()
    print(f"\nschemathesis: {cases['n']} cases over {len(operations)} operations, "
          f"{len(server_errors)} server errors; statuses {dict(sorted(statuses.items()))}")
    assert server_errors == []
    assert cases["n"] >= 5 * len(operations)
    assert sum(n for status, n in statuses.items() if status < 300) >= len(operations)  # not all refused
