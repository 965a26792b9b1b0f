"""What an operator sees (issue 28): the health view's queues, dead letters and failures, the metric
line of a failing training, and one correlation id from a completion's POST to its training."""
import io
import json
import logging

import pytest

from activelabel_client.datasets import choice_completion
from chalicelib.telemetry import logs
from tests.conftest import ADMIN
from tests.functional.helpers import balanced_rows, complete, import_texts, make_project


@pytest.fixture
def log_lines():
    """The JSON lines the app logs during the test (as a deployed function or the local stack would)."""
    buffer = io.StringIO()
    logger = logging.getLogger("activelabel")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logs.configure(buffer, json_lines=True)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.handlers[:], logger.level, logger.propagate = saved


def metric_lines(lines, name):
    return [line for line in lines if name in {m["Name"] for d in line.get("_aws", {}).get("CloudWatchMetrics", [])
                                               for m in d["Metrics"]}]


def test_a_failing_training_shows_in_the_health_view_and_a_metric(api, pump, aws, log_lines):
    project_id = make_project(api, min_completions=10)
    rows = [row for row in balanced_rows(30) if row["label"] == "ham"][:10]
    for task_id in import_texts(api, project_id, rows):
        complete(api, project_id, task_id, "ham")  # one class only: the training cannot learn
    pump.drain()

    health = api.get("/api/health/detail").json
    assert health["status"] == "degraded" and project_id in health["failing_projects"]
    (mine,) = [p for p in health["projects"] if p["project_id"] == project_id]
    assert mine["training"]["state"] == "failed" and "distinct labels" in mine["training"]["last_error"]
    assert mine["last_failures"][0]["kind"] == "training" and mine["last_failures"][0]["error"]
    assert set(health["queues"]) == {"train", "train_dead_letters", "rescore", "rescore_dead_letters",
                                     "completion_stream_dead_letters"}
    assert health["dead_letters"] == 0

    (failed,) = metric_lines(log_lines(), "TrainingsFailed")
    assert failed["TrainingsStarted"] == 1 and failed["TrainingsFailed"] == 1 and failed["outcome"] == "failed"
    assert failed["project_id"] == project_id and failed["job_id"] == "training-1"
    assert len(metric_lines(log_lines(), "Completions")) == 10


def test_dead_letters_and_one_project(api, aws):
    import boto3

    project_id = make_project(api)
    boto3.client("sqs").send_message(QueueUrl=aws["ACTIVELABEL_RESCORE_DLQ_URL"], MessageBody="{}")
    health = api.get(f"/api/health/detail?project={project_id}").json
    assert health["dead_letters"] == 1 and health["queues"]["rescore_dead_letters"]["waiting"] == 1
    assert health["status"] == "degraded" and [p["project_id"] for p in health["projects"]] == [project_id]
    assert api.get("/api/health/detail?project=999999").status_code == 404


def test_only_a_global_admin_sees_the_health_view(api):
    project_id = make_project(api)
    token = api.post("/api/tokens", {"name": "p-admin", "role": "admin", "projects": [project_id]}).json
    assert api.get("/api/health/detail", headers={"Authorization": f"Token {token['token']}"}).status_code == 403
    assert api.get("/api/health/detail", headers={}).status_code == 401


def test_one_correlation_id_from_the_post_to_the_promotion(api, pump, log_lines):
    project_id = make_project(api, min_completions=10)
    rows = balanced_rows(12)
    ids = import_texts(api, project_id, rows)
    for task_id, row in list(zip(ids, rows))[:9]:
        complete(api, project_id, task_id, row["label"])
    pump.drain()
    answer = api.post(f"/api/projects/{project_id}/tasks/{ids[9]}/completions",
                      choice_completion(rows[9]["label"], "ann-1"),
                      headers={**ADMIN, "X-Correlation-Id": "completion-10"})
    assert answer.status_code == 201, answer.json
    assert answer.headers["X-Correlation-Id"] == "completion-10"
    pump.drain()

    mine = [line for line in log_lines() if line.get("correlation_id") == "completion-10"]
    functions = {line.get("function") for line in mine}
    assert {"api_handler", "on_completion", "train_worker", "rescore_worker"} <= functions, functions
    assert any(line["logger"] == "activelabel.api" and line["status"] == 201 for line in mine)
    trained = [line for line in mine if line["logger"] == "activelabel.services.training"]
    assert trained and "promoted" in trained[-1]["message"] and trained[-1]["model_version"] == "v1"
    outcome = metric_lines(mine, "TrainingsSucceeded")
    assert outcome and outcome[0]["outcome"] == "promoted" and outcome[0]["TrainingSeconds"] > 0
    assert metric_lines(mine, "Completions") and metric_lines(mine, "TasksRescored")
