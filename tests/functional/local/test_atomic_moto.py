"""The local stack's moto: every request atomic (as on DynamoDB) and transactions that cost their
items, not their tables (chalicelib/local/moto_patches.py, pinned to one moto version)."""
from __future__ import annotations

import os
import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib import config


@pytest.fixture
def stack(fake_aws_env, monkeypatch, recorder, app_factory):
    from chalicelib.local.server import start_stack

    monkeypatch.delenv(config.ADMIN_TOKEN_ENV, raising=False)
    s = start_stack(port=0, app=lambda: app_factory(dict(os.environ), recorder),
                    schedule_every=None, poll_interval=0.05)
    try:
        yield s
    finally:
        s.stop()


def test_lost_update_probe_on_the_running_server(stack):
    """Failing conditional transactions race 300 acknowledged `ADD n 1` updates: n ends at 300.

    Without per-request atomicity, a failing transaction in moto restores a copy of the table
    taken before it started, over the updates other threads made meanwhile.
    """
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
    table = stack.env[config.RESOURCE_ENV["ProjectsTable"]]
    ddb.put_item(TableName=table, Item={"project_id": {"S": "counter"}, "n": {"N": "0"}})
    # Some bulk, so that unpatched moto's copy of the table takes a while (the race window).
    for start in range(0, 1000, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"project_id": {"S": f"bulk-{i}"}, "text": {"S": "x" * 100}}}}
            for i in range(start, start + 25)]})
    stop = threading.Event()
    failures: list[str] = []
    cancelled = [0]

    def failing_transactions() -> None:
        client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
        while not stop.is_set():
            try:
                client.transact_write_items(TransactItems=[
                    {"Put": {"TableName": table,
                             "Item": {"project_id": {"S": f"other-{threading.get_ident()}"}}}},
                    {"ConditionCheck": {"TableName": table, "Key": {"project_id": {"S": "absent"}},
                                        "ConditionExpression": "attribute_exists(project_id)"}},
                ])
                failures.append("a transaction with a false condition succeeded")
            except ClientError as e:
                if e.response["Error"]["Code"] != "TransactionCanceledException":
                    failures.append(repr(e))
                cancelled[0] += 1

    def adds(count: int) -> None:
        client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint)
        for _ in range(count):
            client.update_item(TableName=table, Key={"project_id": {"S": "counter"}},
                               UpdateExpression="ADD n :one",
                               ExpressionAttributeValues={":one": {"N": "1"}})

    racers = [threading.Thread(target=failing_transactions) for _ in range(2)]
    writers = [threading.Thread(target=adds, args=(100,)) for _ in range(3)]
    for t in racers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in racers:
        t.join(timeout=30)
    assert not failures, failures[:3]
    assert cancelled[0] > 0
    item = ddb.get_item(TableName=table, Key={"project_id": {"S": "counter"}},
                        ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "300"}
    # the cancelled transactions left nothing behind
    others = ddb.scan(TableName=table, FilterExpression="begins_with(project_id, :o)",
                      ExpressionAttributeValues={":o": {"S": "other-"}})
    assert others["Count"] == 0


def _table_with_stream(ddb, name="t"):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     StreamSpecification={"StreamEnabled": True,
                                          "StreamViewType": "NEW_AND_OLD_IMAGES"})


def test_patched_transactions_roll_back_their_items_and_keep_the_table(aws):
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.local import moto_patches

    moto_patches.apply()
    assert moto_patches.is_applied()
    ddb = boto3.client("dynamodb")
    _table_with_stream(ddb)
    backend = dynamodb_backends["123456789012"]["us-east-1"]
    table = backend.tables["t"]
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "b"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    records_before = len(table.stream_shard.items)

    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "z"}, "sk": {"S": "1"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    reasons = [r["Code"] for r in exc.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert backend.tables["t"] is table, "the table object survives a failed transaction"
    assert len(table.stream_shard.items) == records_before, "no stream record of a cancelled write"
    items = ddb.scan(TableName="t")["Items"]
    assert sorted((i["pk"]["S"], i["n"]["N"]) for i in items) == [("a", "1"), ("b", "1")]

    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
    ])
    assert backend.tables["t"] is table
    assert len(table.stream_shard.items) == records_before + 2
    got = ddb.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})["Item"]
    assert got["n"] == {"N": "2"}
    # the same item twice in one transaction is still refused as a whole
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}}}},
        ])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "c"}, "sk": {"S": "1"}})


def test_patched_moto_keeps_no_registry_of_every_item(aws):
    from moto.dynamodb.models.dynamo_type import Item

    from chalicelib.local import moto_patches

    moto_patches.apply()
    ddb = boto3.client("dynamodb")
    _table_with_stream(ddb, "r")
    before = len(Item.instances_tracked)
    for i in range(20):
        ddb.put_item(TableName="r", Item={"pk": {"S": str(i)}, "sk": {"S": "1"}})
    assert len(Item.instances_tracked) == before


def test_the_patch_refuses_another_moto_version(monkeypatch):
    import moto

    from chalicelib.local import moto_patches

    monkeypatch.setattr(moto, "__version__", "5.2.6")
    with pytest.raises(moto_patches.UnsupportedMotoVersion, match="5.2.5"):
        moto_patches.check_version()
