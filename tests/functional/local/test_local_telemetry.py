"""The local stack as `make serve` runs it, its output not a terminal: every line it logs is JSON
(the access log included); one completion that leads to a training leaves lines that share its
correlation id from the POST to the promotion, and metric lines for the completion, the training and
its outcome; the CLI's `health` prints the health view."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
from tests.functional.helpers import balanced_rows

REPO = Path(__file__).resolve().parents[3]
READY = re.compile(r"ready on (http://\S+) \(admin token: (\S+);")


def call(url, token, method, path, body=None, headers=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json",
                                              **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def start(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for key in [k for k in env if k.startswith("ACTIVELABEL_") or k.startswith("AWS_")]:
        env.pop(key)
    err = open(tmp_path / "stderr.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "chalicelib.local", "serve", "--port", "0", "--fresh",
                                "--schedule-every", "0", "--state-dir", str(tmp_path / "state")],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    line = process.stdout.readline()  # the ready line (or EOF if it could not start)
    match = READY.search(line)
    assert match, (line, (tmp_path / "stderr.log").read_text()[-2000:])
    return process, match.group(1), match.group(2)


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def metric_names(line):
    return {m["Name"] for d in line.get("_aws", {}).get("CloudWatchMetrics", []) for m in d["Metrics"]}


def test_local_stack_logs_json_lines_that_follow_one_completion_to_its_promotion(tmp_path):
    process, url, token = start(tmp_path)
    try:
        project = call(url, token, "POST", "/api/projects",
                       {"title": "sms", "label_config": SMS_LABEL_CONFIG, "ml": {"min_completions": 10}})["id"]
        rows = balanced_rows(12)
        ids = call(url, token, "POST", f"/api/projects/{project}/tasks", [{"data": {"text": r["text"]}} for r in rows])
        for task_id, row in list(zip(ids["task_ids"], rows))[:9]:
            call(url, token, "POST", f"/api/projects/{project}/tasks/{task_id}/completions",
                 choice_completion(row["label"], "ann-1"))
        call(url, token, "POST", f"/api/projects/{project}/tasks/{ids['task_ids'][9]}/completions",
             choice_completion(rows[9]["label"], "ann-1"), headers={"X-Correlation-Id": "the-tenth"})
        wait_for(lambda: call(url, token, "GET", f"/api/projects/{project}/training")["model_version"] == "v1")
        wait_for(lambda: any(j["kind"] != "training" and j["state"] == "succeeded"
                             for j in call(url, token, "GET", f"/api/projects/{project}/jobs")["jobs"]))
        cli = subprocess.run([sys.executable, "-m", "activelabel_client", "--url", url, "--token", token, "health"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "status ok" in cli.stdout and "queue train_dead_letters: 0 waiting" in cli.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)

    lines = [json.loads(line) for line in (tmp_path / "stderr.log").read_text().splitlines() if line.strip()]
    assert all(line["level"] and line["message"] and line["timestamp"] for line in lines)
    tenth = [line for line in lines if line.get("correlation_id") == "the-tenth"]
    loggers = {line["logger"] for line in tenth}
    assert {"activelabel.access", "activelabel.api", "activelabel.metrics", "activelabel.services.training",
            "activelabel.events.training_job"} <= loggers, loggers
    assert {"api_handler", "on_completion", "train_worker", "rescore_worker"} <= {line.get("function") for line in tenth}
    assert all(line.get("request_id") for line in tenth if line["logger"] != "activelabel.access")
    promoted = [line for line in tenth if line["logger"] == "activelabel.services.training"]
    assert "promoted" in promoted[-1]["message"] and promoted[-1]["model_version"] == "v1"
    metrics = [line for line in tenth if "_aws" in line]
    assert any("Completions" in metric_names(line) for line in metrics)
    (training,) = [line for line in metrics if "TrainingsStarted" in metric_names(line)]
    assert training["TrainingsSucceeded"] == 1 and training["outcome"] == "promoted"
    assert training["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "activelabel"
    assert any("TasksRescored" in metric_names(line) for line in metrics)
