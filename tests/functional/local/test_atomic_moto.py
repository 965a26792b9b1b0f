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


def answers_of_unpatched_moto(answers):
    """`answers()` with moto's own Table.query and Table.all_items (the patches wrap them)."""
    from moto.dynamodb.models.table import Table

    query, all_items = Table.query, Table.all_items
    try:
        Table.query = query.__closure__[0].cell_contents
        Table.all_items = all_items.__closure__[0].cell_contents
        return answers()
    finally:
        Table.query, Table.all_items = query, all_items


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


def test_patched_queries_answer_as_moto_does(aws):
    """Key conditions of every kind, pages, reverse order and filters: the same answers with and
    without the partition-query patch (moto's own query is the reference)."""

    from chalicelib.local import moto_patches, moto_queries

    moto_patches.apply()
    ddb = boto3.client("dynamodb")
    _table_with_stream(ddb, "q")
    ids = [f"{t}#{c}" for t in (1, 2, 10, 11, 100) for c in ("a", "b", "c")]
    with ddb_batch(ddb, "q") as put:
        for p in ("p1", "p2"):
            for i, sk in enumerate(ids):
                put({"pk": {"S": p}, "sk": {"S": sk}, "n": {"N": str(i)}})
    ddb.delete_item(TableName="q", Key={"pk": {"S": "p1"}, "sk": {"S": "2#b"}})
    ddb.put_item(TableName="q", Item={"pk": {"S": "p1"}, "sk": {"S": "10#0"}, "n": {"N": "99"}})
    cases = [
        ("pk = :p", {}),
        ("pk = :p AND begins_with(sk, :x)", {":x": {"S": "1"}}),
        ("pk = :p AND begins_with(sk, :x)", {":x": {"S": "10#"}}),
        ("pk = :p AND begins_with(sk, :x)", {":x": {"S": "zz"}}),
        ("pk = :p AND sk = :x", {":x": {"S": "11#b"}}),
        ("pk = :p AND sk < :x", {":x": {"S": "10#b"}}),
        ("pk = :p AND sk <= :x", {":x": {"S": "10#b"}}),
        ("pk = :p AND sk > :x", {":x": {"S": "10#b"}}),
        ("pk = :p AND sk >= :x", {":x": {"S": "10#b"}}),
        ("pk = :p AND sk BETWEEN :x AND :y", {":x": {"S": "10#"}, ":y": {"S": "11#b"}}),
    ]

    def answers() -> list:
        out = []
        for expression, values in cases:
            for forward in (True, False):
                for limit in (None, 2):
                    kwargs = {"TableName": "q", "KeyConditionExpression": expression,
                              "ExpressionAttributeValues": {":p": {"S": "p1"}, **values},
                              "ScanIndexForward": forward}
                    if limit:
                        kwargs["Limit"] = limit
                    pages = []
                    while True:
                        page = ddb.query(**kwargs)
                        pages.append([i["sk"]["S"] for i in page["Items"]])
                        if "LastEvaluatedKey" not in page:
                            break
                        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                    out.append(pages)
            filtered = ddb.query(TableName="q", KeyConditionExpression=expression,
                                 FilterExpression="n > :five",
                                 ExpressionAttributeValues={":p": {"S": "p1"}, ":five": {"N": "5"},
                                                            **values})
            out.append([i["sk"]["S"] for i in filtered["Items"]])
        return out

    narrowed = []
    real_range = moto_queries._key_range

    def spy(keys, comparison, objs):
        lo, hi = real_range(keys, comparison, objs)
        narrowed.append((comparison, hi - lo < len(keys)))
        return lo, hi

    moto_queries._key_range = spy
    try:
        patched = answers()
    finally:
        moto_queries._key_range = real_range
    # every key condition on the sort key reads less than the partition
    assert {c for c, fewer in narrowed if c is not None and not fewer} == set(), narrowed
    assert patched[5][0] == ["1#a", "1#b", "1#c", "10#0", "10#a", "10#b", "10#c", "100#a",
                             "100#b", "100#c", "11#a", "11#b", "11#c"]
    assert answers_of_unpatched_moto(answers) == patched


class ddb_batch:
    def __init__(self, ddb, table):
        self.ddb, self.table, self.items = ddb, table, []

    def __enter__(self):
        return self.items.append

    def __exit__(self, *exc):
        for start in range(0, len(self.items), 25):
            self.ddb.batch_write_item(RequestItems={self.table: [
                {"PutRequest": {"Item": i}} for i in self.items[start:start + 25]]})


def test_patched_index_queries_answer_as_moto_does(aws):
    """GSI queries after puts, in-place updates of index attributes, removals, deletes and a
    rolled-back transaction: the same pages as moto's own query, and fewer items read."""

    from chalicelib.local import moto_patches, moto_queries

    moto_patches.apply()
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName="g", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                              (("pk", "S"), ("id", "N"), ("pl", "S"), ("rk", "N"),
                               ("tg", "S"))],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "id", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "pool", "Projection": {"ProjectionType": "KEYS_ONLY"},
             "KeySchema": [{"AttributeName": "pl", "KeyType": "HASH"},
                           {"AttributeName": "rk", "KeyType": "RANGE"}]},
            {"IndexName": "tag", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "tg", "KeyType": "HASH"}]}])

    def put(i, **attrs):
        item = {"pk": {"S": "p"}, "id": {"N": str(i)}}
        item.update({k: ({"N": str(v)} if isinstance(v, int) else {"S": v})
                     for k, v in attrs.items()})
        ddb.put_item(TableName="g", Item=item)

    def query(**kwargs):
        pages, kwargs = [], {"TableName": "g", **kwargs}
        while True:
            page = ddb.query(**kwargs)
            pages.append([(i["id"]["N"], i.get("rk", {}).get("N")) for i in page["Items"]])
            if "LastEvaluatedKey" not in page:
                return pages
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    cases = [
        ("pl = :h", {}),
        ("pl = :h AND #r = :a", {":a": {"N": "3"}}),
        ("pl = :h AND #r < :a", {":a": {"N": "3"}}),
        ("pl = :h AND #r >= :a", {":a": {"N": "3"}}),
        ("pl = :h AND #r BETWEEN :a AND :b", {":a": {"N": "2"}, ":b": {"N": "5"}}),
    ]

    def answers():
        out = []
        for expression, values in cases:
            names = {"#r": "rk"} if "#r" in expression else {}
            for forward in (True, False):
                for limit in ({}, {"Limit": 2}):
                    out.append(query(IndexName="pool", KeyConditionExpression=expression,
                                     ExpressionAttributeValues={":h": {"S": "a"}, **values},
                                     ScanIndexForward=forward, **limit,
                                     **({"ExpressionAttributeNames": names} if names else {})))
        out.append(query(IndexName="tag", KeyConditionExpression="tg = :t",
                         ExpressionAttributeValues={":t": {"S": "x"}}))
        out.append(query(IndexName="tag", KeyConditionExpression="tg = :t", Limit=1,
                         FilterExpression="attribute_exists(pl)",
                         ExpressionAttributeValues={":t": {"S": "x"}}))
        return out

    for i in range(12):
        put(i, pl="a" if i % 3 else "b", rk=i % 7, tg="x" if i % 2 else "y")
    put(20, tg="x")  # in one index only
    answers()  # builds the index maps; from here on every write keeps them up to date
    ddb.update_item(TableName="g", Key={"pk": {"S": "p"}, "id": {"N": "4"}},
                    UpdateExpression="SET #r = :r", ExpressionAttributeNames={"#r": "rk"},
                    ExpressionAttributeValues={":r": {"N": "6"}})
    ddb.update_item(TableName="g", Key={"pk": {"S": "p"}, "id": {"N": "5"}},
                    UpdateExpression="REMOVE pl")
    ddb.update_item(TableName="g", Key={"pk": {"S": "p"}, "id": {"N": "6"}},
                    UpdateExpression="SET pl = :a", ExpressionAttributeValues={":a": {"S": "a"}})
    ddb.update_item(TableName="g", Key={"pk": {"S": "p"}, "id": {"N": "30"}},  # a new item
                    UpdateExpression="SET pl = :a, #r = :r, tg = :t",
                    ExpressionAttributeNames={"#r": "rk"},
                    ExpressionAttributeValues={":a": {"S": "a"}, ":r": {"N": "3"},
                                               ":t": {"S": "x"}})
    ddb.delete_item(TableName="g", Key={"pk": {"S": "p"}, "id": {"N": "7"}})
    put(8, pl="a", rk=0)  # replaced: no tag any more
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "g", "Key": {"pk": {"S": "p"}, "id": {"N": "1"}},
                        "UpdateExpression": "SET #r = :r", "ExpressionAttributeNames": {"#r": "rk"},
                        "ExpressionAttributeValues": {":r": {"N": "5"}}}},
            {"ConditionCheck": {"TableName": "g", "Key": {"pk": {"S": "p"}, "id": {"N": "99"}},
                                "ConditionExpression": "attribute_exists(pk)"}}])

    read = []
    real = moto_queries._index_candidates

    def spy(*args):
        found = real(*args)
        read.append(len(found) if found is not None else None)
        return found

    moto_queries._index_candidates = spy
    try:
        patched = answers()
    finally:
        moto_queries._index_candidates = real
    assert None not in read and max(read) < 14, read  # never the whole table
    assert patched[0] == [[("8", "0"), ("1", "1"), ("2", "2"), ("10", "3"), ("30", "3"),
                           ("11", "4"), ("4", "6"), ("6", "6")]]
    assert answers_of_unpatched_moto(answers) == patched
