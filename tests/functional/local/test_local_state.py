"""The state journal (chalicelib/local/state.py): what a stack acknowledged comes back in the next
one started on the same directory, with the same ids; `fresh=True` starts empty."""
from __future__ import annotations

import os

import boto3
import pytest

from chalicelib import config


@pytest.fixture
def start(fake_aws_env, monkeypatch, recorder, app_factory):
    from chalicelib.local.server import start_stack

    monkeypatch.delenv(config.ADMIN_TOKEN_ENV, raising=False)
    running = []

    def run(state_dir, fresh=False):
        s = start_stack(port=0, app=lambda: app_factory(dict(os.environ), recorder),
                        schedule_every=None, poll_interval=0.05, state_dir=state_dir,
                        fresh=fresh)
        running.append(s)
        return s

    yield run
    for s in running:
        s.stop()


def snapshot(stack):
    """Items of every table, object versions and queue contents, through the AWS APIs."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint)
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint)
    tables = {}
    for var in ("ACTIVELABEL_PROJECTS_TABLE", "ACTIVELABEL_LEDGER_TABLE",
                "ACTIVELABEL_COMPLETIONS_TABLE"):
        items = ddb.scan(TableName=stack.env[var], ConsistentRead=True)["Items"]
        tables[var] = sorted(items, key=repr)
    bucket = stack.env[config.RESOURCE_ENV["ModelBucket"]]
    versions = s3.list_object_versions(Bucket=bucket)
    objects = sorted((v["Key"], v["VersionId"], v["IsLatest"]) for v in versions.get("Versions", []))
    markers = sorted((m["Key"], m["VersionId"]) for m in versions.get("DeleteMarkers", []))
    queue = stack.env[config.RESOURCE_ENV["RescoreQueue"]]
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    return tables, objects, markers, attrs


def test_acknowledged_writes_come_back_with_their_ids(start, tmp_path):
    first = start(tmp_path)
    ddb = boto3.client("dynamodb", endpoint_url=first.aws_endpoint)
    s3 = boto3.client("s3", endpoint_url=first.aws_endpoint)
    sqs = boto3.client("sqs", endpoint_url=first.aws_endpoint)
    projects = first.env["ACTIVELABEL_PROJECTS_TABLE"]
    ledger = first.env["ACTIVELABEL_LEDGER_TABLE"]
    ddb.put_item(TableName=projects, Item={"project_id": {"S": "p1"}, "n": {"N": "1"}})
    ddb.put_item(TableName=projects, Item={"project_id": {"S": "gone"}})
    ddb.update_item(TableName=projects, Key={"project_id": {"S": "p1"}},
                    UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
    ddb.delete_item(TableName=projects, Key={"project_id": {"S": "gone"}})
    ddb.batch_write_item(RequestItems={ledger: [
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": str(i)}}}} for i in range(3)]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": ledger, "Item": {"pk": {"S": "t"}, "sk": {"S": "1"}}}},
        {"Delete": {"TableName": ledger, "Key": {"pk": {"S": "a"}, "sk": {"S": "0"}}}}])
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": ledger, "Item": {"pk": {"S": "never"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": projects, "Key": {"project_id": {"S": "p1"}},
                                "ConditionExpression": "n = :zero",
                                "ExpressionAttributeValues": {":zero": {"N": "0"}}}}])
    bucket = first.env[config.RESOURCE_ENV["ModelBucket"]]
    s3.put_object(Bucket=bucket, Key="m/v1", Body=b"one")
    s3.put_object(Bucket=bucket, Key="m/v1", Body=b"two")
    s3.put_object(Bucket=bucket, Key="m/tmp", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="m/tmp")
    queue = first.env[config.RESOURCE_ENV["RescoreQueue"]]
    sqs.send_message(QueueUrl=queue, MessageBody="a")
    sqs.send_message(QueueUrl=queue, MessageBody="b")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)
    assert len(got["Messages"]) == 1  # in flight when the stack goes
    first.pump.drain()
    before = snapshot(first)
    assert before[2], "a delete marker to keep"
    first.stop()

    second = start(tmp_path)
    after = snapshot(second)
    assert after[:3] == before[:3]
    assert after[3]["ApproximateNumberOfMessages"] == "2", "the in-flight message is visible again"
    s3 = boto3.client("s3", endpoint_url=second.aws_endpoint)
    assert s3.get_object(Bucket=bucket, Key="m/v1")["Body"].read() == b"two"
    oldest = [v for v in before[1] if v[0] == "m/v1" and not v[2]][0][1]
    assert s3.get_object(Bucket=bucket, Key="m/v1", VersionId=oldest)["Body"].read() == b"one"
    assert second.admin_token == first.admin_token
    # the pump's idle polls (empty receives, empty stream reads) write nothing
    second.pump.drain()
    writes = second.state.db.total_changes
    for _ in range(5):
        second.pump.poll_once()
    assert second.state.db.total_changes == writes
    second.stop()

    third = start(tmp_path, fresh=True)
    ddb = boto3.client("dynamodb", endpoint_url=third.aws_endpoint)
    assert ddb.scan(TableName=projects)["Count"] == 0


def test_a_second_stack_cannot_share_the_state_dir(start, tmp_path):
    from chalicelib.local.state import StateDirInUse, StateStore

    start(tmp_path)
    with pytest.raises(StateDirInUse):
        StateStore(tmp_path)


def test_the_state_folder_and_its_files_are_the_owner_s_only(tmp_path):
    """Issue 26, item 6: the state holds the admin token and the Label Studio key in plain text."""
    import stat

    from chalicelib.local.state import DB_NAME, StateStore

    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    (folder / DB_NAME).touch(mode=0o644)  # left by an older version
    store = StateStore(folder)
    try:
        store.put("k", "v")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = [p for p in folder.iterdir() if p.is_file()]
        assert any(p.name == DB_NAME for p in files) and any(p.name.endswith("-wal") for p in files)
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
    finally:
        store.close()
