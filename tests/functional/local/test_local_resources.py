"""create_resources builds infra/resources.yaml's tables, bucket and queues in moto."""
from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import config
from chalicelib.local.resources import TemplateError, create_resources, load_template

TABLES = ["projects", "tasks", "completions", "model-versions", "ledger"]


def test_load_template_reads_short_tags(tmp_path):
    template = load_template()
    res = template["Resources"]
    assert res["ProjectsTable"]["Properties"]["TableName"] == {
        "Fn::Sub": "${AWS::StackName}-projects"}
    assert res["TrainQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]}

    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  X:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !Ref Y\n"
        "      B: !Join [\"-\", [a, !Ref AWS::Region]]\n"
        "      C: !Sub [\"${N}-q\", {N: !Ref Y}]\n"
        "      D: !GetAtt [Y, Arn]\n")
    props = load_template(path)["Resources"]["X"]["Properties"]
    assert props == {"A": {"Ref": "Y"},
                     "B": {"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]},
                     "C": {"Fn::Sub": ["${N}-q", {"N": {"Ref": "Y"}}]},
                     "D": {"Fn::GetAtt": ["Y", "Arn"]}}


def test_create_resources_builds_the_template(env):
    prefix = "activelabel-local"
    ddb = boto3.client("dynamodb")
    names = set(ddb.list_tables()["TableNames"])
    assert {f"{prefix}-{t}" for t in TABLES} <= names

    for logical_id, var in config.RESOURCE_ENV.items():
        assert var in env, logical_id
    assert env["ACTIVELABEL_TASKS_TABLE"] == f"{prefix}-tasks"
    assert env[config.TRAIN_QUEUE_NAME_ENV] == f"{prefix}-train.fifo"
    assert env[config.RESCORE_QUEUE_NAME_ENV] == f"{prefix}-rescore"

    completions = ddb.describe_table(TableName=f"{prefix}-completions")["Table"]
    assert completions["StreamSpecification"] == {"StreamEnabled": True,
                                                  "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert completions["LatestStreamArn"] == env[config.COMPLETIONS_STREAM_ENV]
    assert completions["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "LatestStreamArn" not in ddb.describe_table(TableName=f"{prefix}-projects")["Table"]

    tasks = ddb.describe_table(TableName=f"{prefix}-tasks")["Table"]
    indexes = {g["IndexName"]: [k["AttributeName"] for k in g["KeySchema"]] for g in tasks["GlobalSecondaryIndexes"]}
    assert indexes == {"accepted": ["accepted_project", "task_id"], "pool": ["pool_project", "random_key"],
                       "scored": ["scored_project", "priority"], "rework": ["rework_project", "agreement"],
                       "suspects": ["suspect_project", "suspect_rank"]}
    assert {"AttributeName": "task_id", "AttributeType": "N"} in tasks["AttributeDefinitions"]

    ttl = ddb.describe_time_to_live(TableName=f"{prefix}-ledger")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    s3 = boto3.client("s3")
    bucket = env["ACTIVELABEL_MODEL_BUCKET"]
    assert bucket == f"{prefix}-models"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4

    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=env["ACTIVELABEL_TRAIN_QUEUE_URL"],
                                     AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["VisibilityTimeout"] == "960"
    dlq_url = sqs.get_queue_url(QueueName=f"{prefix}-train-dlq.fifo")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == 3


def test_create_resources_is_idempotent(env):
    assert create_resources("activelabel-local") == env


def test_other_stack_names_do_not_collide(env):
    other = create_resources("other-stack")
    assert other["ACTIVELABEL_PROJECTS_TABLE"] == "other-stack-projects"
    assert other["ACTIVELABEL_MODEL_BUCKET"] == "other-stack-models"


def test_unknown_resource_type_is_a_clear_error(aws, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: app.app}\n"
        "  Machine:\n"
        "    Type: AWS::StepFunctions::StateMachine\n")
    with pytest.raises(TemplateError, match="Machine: resource type AWS::StepFunctions::StateMachine"):
        create_resources("x", template_path=path)


def test_unresolvable_reference_is_a_clear_error(aws, tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  Q:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties: {QueueName: !GetAtt Missing.Arn}\n")
    with pytest.raises(TemplateError, match="Missing.Arn"):
        create_resources("x", template_path=path)


def test_tables_only_for_a_dynamodb_only_server(aws):
    """What bench/local_dynamodb.py asks of a DynamoDB-only server (dynalite): the template's tables,
    nothing else, and no TTL call."""
    env = create_resources("tables-only", types={"AWS::DynamoDB::Table"}, time_to_live=False)
    assert env["ACTIVELABEL_TASKS_TABLE"] == "tables-only-tasks"
    assert config.RESOURCE_ENV["ModelBucket"] not in env and config.TRAIN_QUEUE_NAME_ENV not in env
    assert not boto3.client("sqs").list_queues().get("QueueUrls")
    assert not boto3.client("s3").list_buckets()["Buckets"]
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName="tables-only-ledger")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"
