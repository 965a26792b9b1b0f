"""The hand-written IAM policies in .chalice/ are sufficient and least-privilege, checked on real calls.

`autogen_policy` cannot see PynamoDB's calls, so the policies are written by hand. Here every AWS
call the handlers make during a whole learning loop under moto (create, import, label, stream,
train, predict, schedule, manual training, deletes) is recorded and attributed to the Lambda
function that would make it (the app.py function on the call stack). Then:
- sufficient: each call (transactions and batches split into the actions IAM checks) is allowed
  by that function's policy, on that resource;
- least privilege: each data action a policy grants was used by the loop, except those only the
  Lambda service uses on the function's behalf (stream and queue polling, the on-failure destination).
"""
from __future__ import annotations

import fnmatch
import json
import sys
from collections import defaultdict

import botocore.client
import pytest

from activelabel_client.datasets import choice_completion
from chalicelib.local.resources import load_template
from tests.functional.helpers import (
    balanced_rows, complete_rows, import_texts, make_project, training)
from tests.functional.infra.conftest import ROOT

APP_FILE = str((ROOT / "app.py").resolve())
ROUTE_WRAPPER_FILE = str((ROOT / "chalicelib" / "api" / "http.py").resolve())
STACK = "activelabel-local"  # the stack the fixtures create
SECRETS = {"ACTIVELABEL_ADMIN_TOKEN": "admin-token", "ACTIVELABEL_LS_SECRET": "ls-secret",
           "ACTIVELABEL_LS_BASIC_AUTH": "ls-basic-auth"}
EVENT_FUNCTIONS = {"on_completion", "train_worker", "retrain_schedule", "rescore_worker"}
# Used by the Lambda service with the function's role, never by our code: checked in test_template.py.
SERVICE_SIDE = {
    "on_completion": {("dynamodb:DescribeStream", "stream:CompletionsTable"),
                      ("dynamodb:GetRecords", "stream:CompletionsTable"),
                      ("dynamodb:GetShardIterator", "stream:CompletionsTable"),
                      ("dynamodb:ListStreams", "*"),
                      ("sqs:SendMessage", "queue:CompletionStreamFailureQueue")},
    "train_worker": {("sqs:ReceiveMessage", "queue:TrainQueue"), ("sqs:DeleteMessage", "queue:TrainQueue"),
                     ("sqs:GetQueueAttributes", "queue:TrainQueue")},
    "rescore_worker": {("sqs:ReceiveMessage", "queue:RescoreQueue"), ("sqs:DeleteMessage", "queue:RescoreQueue"),
                       ("sqs:GetQueueAttributes", "queue:RescoreQueue")},
}
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def function_on_stack() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == APP_FILE:
            name = frame.f_code.co_name
            return name if name in EVENT_FUNCTIONS else "api_handler"
        if frame.f_code.co_filename == ROUTE_WRAPPER_FILE and frame.f_code.co_name in ("wrapped", "_guarded"):
            return "api_handler"  # authentication runs in the route wrapper, before app.py's view
        frame = frame.f_back
    return None


class Recorder:
    """(function, IAM action, symbolic resource) for every AWS call made from app.py's handlers."""

    def __init__(self, env: dict):
        kinds = {"AWS::DynamoDB::Table": "table", "AWS::SQS::Queue": "queue", "AWS::S3::Bucket": "bucket"}
        by_var = {}
        from chalicelib import config

        for logical_id, variable in config.RESOURCE_ENV.items():
            by_var[env[variable]] = logical_id
        self.logical = by_var  # physical name / queue URL -> logical id
        self.kinds = {lid: kinds.get(r.get("Type")) for lid, r in load_template()["Resources"].items()}
        self.calls: list[tuple[str, str, str]] = []

    def table(self, name: str, index: str | None = None) -> str:
        return f"table:{self.logical[name]}" + (f"/index/{index}" if index else "")

    def record(self, service: str, operation: str, params: dict) -> None:
        function = function_on_stack()
        if function is None:
            return  # test setup or the event pump polling (the Lambda service's side)
        for action, resource in self.actions(service, operation, params):
            self.calls.append((function, action, resource))

    def actions(self, service: str, operation: str, params: dict):
        if service == "dynamodb":
            if operation == "TransactWriteItems" or operation == "TransactGetItems":
                for item in params["TransactItems"]:
                    (kind, body), = item.items()
                    yield f"dynamodb:{TRANSACT_ACTIONS[kind]}", self.table(body["TableName"])
            elif operation in ("BatchWriteItem", "BatchGetItem"):
                for name in params["RequestItems"]:
                    yield f"dynamodb:{operation}", self.table(name)
            else:
                yield f"dynamodb:{operation}", self.table(params["TableName"], params.get("IndexName"))
        elif service == "s3":
            action = "GetObjectVersion" if operation == "GetObject" and params.get("VersionId") else operation
            yield f"s3:{action}", f"bucket:{self.logical[params['Bucket']]}/{params['Key']}"
        elif service == "sqs":
            action = "SendMessage" if operation == "SendMessageBatch" else operation  # IAM has no batch action
            yield f"sqs:{action}", f"queue:{self.logical[params['QueueUrl']]}"
        elif service == "ssm":
            yield f"ssm:{operation}", "parameter:" + params["Name"].replace(f"/{STACK}/", "/${AWS::StackName}/")
        else:
            yield f"{service}:{operation}", "unknown"


def symbolic(resource, kinds: dict) -> str:
    """A policy Resource (CloudFormation intrinsic) in the recorder's symbolic form."""
    if resource == "*":
        return "*"
    if "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        return f"stream:{logical_id}" if attribute == "StreamArn" else f"{kinds[logical_id]}:{logical_id}"
    text = resource["Fn::Sub"]
    if text.startswith("arn:${AWS::Partition}:logs:"):
        return "logs"
    if text.startswith("arn:${AWS::Partition}:ssm:"):
        return "parameter:" + text.split(":parameter", 1)[1]
    head, rest = text.split("}", 1)
    logical_id = head.removeprefix("${").removesuffix(".Arn")
    return f"{kinds[logical_id]}:{logical_id}{rest}"


def policy_grants(policy_file: str, kinds: dict) -> list[tuple[str, str]]:
    document = json.loads((ROOT / ".chalice" / policy_file).read_text())
    grants = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in statement["Action"]:
            assert "*" not in action, f"{policy_file}: wildcard action {action}"
            for resource in resources:
                grants.append((action, symbolic(resource, kinds)))
    return grants


@pytest.fixture
def secrets_in_ssm(aws, monkeypatch):
    """As deployed: the secrets are SSM SecureStrings named by *_PARAMETER variables, not values."""
    import os

    import boto3

    from chalicelib.store import secrets

    for variable, suffix in SECRETS.items():
        name = f"/activelabel/{STACK}/{suffix}"
        boto3.client("ssm").put_parameter(Name=name, Value=os.environ[variable], Type="SecureString")
        monkeypatch.delenv(variable)
        monkeypatch.setenv(variable + secrets.PARAMETER_SUFFIX, name)
    secrets.clear_cache()
    yield
    secrets.clear_cache()


@pytest.fixture
def recorder(aws, monkeypatch):
    rec = Recorder(aws)
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        rec.record(self.meta.service_model.service_name, operation_name, api_params)
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return rec


def run_learning_loop(api, pump):
    rows = balanced_rows(30)
    project_id = make_project(api, min_completions=20, agreement_threshold=0.6, retrain_every=100, suspects=True)
    assert api.get("/api/projects").status_code == 200
    assert api.patch(f"/api/projects/{project_id}", {"title": "sms (renamed)"}).status_code == 200
    # one task arrives with its annotation (import writes completions too)
    first = api.post(f"/api/projects/{project_id}/tasks",
                     [{"data": {"text": rows[0]["text"]}, "annotations": [choice_completion(rows[0]["label"], "a")]}])
    assert first.status_code == 201, first.json
    task_ids = first.json["task_ids"] + import_texts(api, project_id, rows[1:])
    served = api.get(f"/api/projects/{project_id}/next?annotator=iam")  # the first batch: from the random pool
    assert api.delete(f"/api/projects/{project_id}/tasks/{served.json['id']}/lock?annotator=iam").status_code == 200
    complete_rows(api, project_id, task_ids[1:20], rows[1:20])
    pump.drain()
    assert training(api, project_id)["model_version"] == "v1"

    for path in ("tasks", f"tasks/{task_ids[0]}", f"tasks/{task_ids[0]}/completions", "export", "model-versions",
                 "training", "ml", "models", "suspects", "report"):
        assert api.get(f"/api/projects/{project_id}/{path}").status_code == 200, path
    from chalicelib.ml import serving

    serving.clear_cache()  # one process plays every function here; in Lambda each has its own cache
    answer = api.post(f"/api/projects/{project_id}/predict", {"samples": [{"text": "WIN a FREE prize now"}]})
    assert answer.status_code == 200 and answer.json["model_version"] == "v1"
    # annotators are served tasks (the suspects in rework, then scored: the queue indexes; the held-lock
    # ledger); the last skips its task
    suspects = api.get(f"/api/projects/{project_id}/suspects").json["suspects"]
    for annotator in [f"iam-{i}" for i in range(len(suspects) + 1)]:
        served = api.get(f"/api/projects/{project_id}/next?annotator={annotator}")
        assert served.status_code == 200, served.json
    skip = api.delete(f"/api/projects/{project_id}/tasks/{served.json['id']}/lock?annotator={annotator}")
    assert skip.status_code == 200, skip.json

    # a project-scoped reader token: created, listed, used, revoked
    token = api.post("/api/tokens", {"name": "reader", "role": "reader", "projects": [project_id]})
    assert token.status_code == 201, token.json
    assert api.get("/api/tokens").status_code == 200
    reader = {"Authorization": f"Token {token.json['token']}", "Content-Type": "application/json"}
    assert api.get(f"/api/projects/{project_id}/training", headers=reader).status_code == 200
    assert api.get("/api/projects", headers=reader).status_code == 200
    assert api.delete(f"/api/tokens/{token.json['id']}").status_code in (200, 204)

    # Label Studio as a client of /ls/: setup links a project, predict, an annotation webhook, and
    # START_TRAINING, whose export pull runs in the train worker
    from tests.functional.ls_fakes import FakeLabelStudio, serving
    from tests.functional.test_labelstudio_backend import BASIC, annotation_event, setup_sms

    exported = [{"id": 2, "data": {"text": "see you at 5"}, "annotations": [
        {"id": 502, "completed_by": 1, "result": annotation_event(2, 502, "x", "ham")["annotation"]["result"]}]}]
    fake = FakeLabelStudio("ls-token-iam", {"9": exported})
    with serving(fake):
        setup_sms(api, key="9.1700000000", hostname=fake.url, token="ls-token-iam")
        ls = api.post("/ls/predict", {"tasks": [{"id": 1, "data": {"text": "hi"}}], "project": "9.1700000000"},
                      headers=BASIC)
        assert ls.status_code == 200, ls.json
        assert api.post("/ls/webhook", annotation_event(1, 501, "hi there", "ham") | {"project": {"id": 9}},
                        headers=BASIC).status_code in (200, 201)
        pump.drain()
        assert api.post("/ls/webhook", {"action": "START_TRAINING", "project": {"id": 9}},
                        headers=BASIC).json["pull"] == "queued"
        from chalicelib.store import secrets

        secrets.clear_cache()  # the train worker reads the key itself: in Lambda it has its own cache
        pump.drain()
    assert fake.paths("GET") == ["/api/projects/9/export?exportType=JSON&download_all_tasks=true"]

    # two more labels: below retrain_every, so only the hourly schedule retrains
    complete_rows(api, project_id, task_ids[20:22], rows[20:22])
    pump.drain()
    assert pump.fire_schedules() == 1
    pump.drain()
    assert training(api, project_id)["model_version"] == "v2"

    assert api.post(f"/api/projects/{project_id}/train").status_code in (200, 201, 202)
    pump.drain()
    # enough labels for a validation set: v4 holds one out (and keeps its predictions on it); v5 is
    # judged against v4, whose model and stored predictions the train worker reads
    from chalicelib.ml import serving as model_serving

    more = balanced_rows(80, seed=5)[:50]
    assert api.post(f"/api/projects/{project_id}/tasks", [
        {"data": {"text": r["text"]}, "annotations": [choice_completion(r["label"], "a")]} for r in more]).status_code == 201
    pump.drain()
    for _ in range(2):
        assert api.post(f"/api/projects/{project_id}/train").status_code in (200, 201, 202)
        model_serving.clear_cache()  # one process plays every function here; in Lambda each has its own cache
        pump.drain()
    versions = api.get(f"/api/projects/{project_id}/model-versions").json["versions"]
    judged = next(v for v in versions if v["model_version"] == "v5")
    assert "comparison" in judged["decision"], judged["decision"]
    # rollback (its pre-annotation pass), a pass on demand, and the jobs they show
    model_serving.clear_cache()
    rollback = api.put(f"/api/projects/{project_id}/model-versions/v1/active")
    assert rollback.status_code == 200 and rollback.json["preannotation_job"], rollback.json
    assert api.post(f"/api/projects/{project_id}/predictions").status_code == 202
    pump.drain()
    assert api.get(f"/api/projects/{project_id}/jobs").status_code == 200
    assert api.get(f"/api/projects/{project_id}/jobs/{rollback.json['preannotation_job']}").json["state"] == "succeeded"
    completion_id = api.get(f"/api/projects/{project_id}/tasks/{task_ids[1]}/completions").json["completions"][0]["id"]
    assert api.delete(f"/api/projects/{project_id}/completions/{completion_id}").status_code == 200
    pump.drain()
    # the operator's health view reads every queue's depth (the dead-letter queues included)
    health = api.get("/api/health/detail")
    assert health.status_code == 200 and len(health.json["queues"]) == 5, health.json
    assert api.delete(f"/api/projects/{project_id}").status_code in (200, 204)
    pump.drain()


def test_policies_allow_every_call_and_grant_nothing_unused(secrets_in_ssm, api, pump, recorder):
    run_learning_loop(api, pump)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = config["stages"]["dev"]["lambda_functions"]
    used = defaultdict(set)
    for function, action, resource in recorder.calls:
        used[function].add((action, resource))
    assert set(used) == {"api_handler", "on_completion", "train_worker", "retrain_schedule", "rescore_worker"}, set(used)

    denied, unused = [], []
    for function, settings in functions.items():
        grants = policy_grants(settings["iam_policy_file"], recorder.kinds)
        for action, resource in sorted(used[function]):
            if not any(action == g_action and fnmatch.fnmatchcase(resource, g_resource)
                       for g_action, g_resource in grants):
                denied.append((function, action, resource))
        for g_action, g_resource in grants:
            if g_resource == "logs" or (g_action, g_resource) in SERVICE_SIDE.get(function, set()):
                continue
            if not any(action == g_action and fnmatch.fnmatchcase(resource, g_resource)
                       for action, resource in used[function]):
                unused.append((function, g_action, g_resource))
    assert denied == [], f"calls the policies in .chalice/ would deny: {denied}"
    assert unused == [], f"grants no handler used (remove them, or exercise them here): {unused}"


def test_the_policy_check_can_fail(aws):
    """A call outside the grants is reported: the train worker may not delete model artifacts."""
    kinds = Recorder(aws).kinds
    grants = policy_grants("policy-train-worker.json", kinds)
    assert not any(a == "s3:DeleteObject" for a, _ in grants)
    assert ("s3:PutObject", "bucket:ModelBucket/models/*") in grants
    assert not fnmatch.fnmatchcase("bucket:ModelBucket/other/key", "bucket:ModelBucket/models/*")
