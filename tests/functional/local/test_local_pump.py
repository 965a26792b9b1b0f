"""The event pump delivers stream, queue and schedule events to the handlers, Lambda-shaped."""
from __future__ import annotations

import datetime
import threading
import time

import boto3
import pytest
from chalice.app import CloudWatchEvent, DynamoDBRecord

from chalicelib import config


def completions_table(env):
    return boto3.resource("dynamodb").Table(env["ACTIVELABEL_COMPLETIONS_TABLE"])


def stream_records(recorder):
    return [r for batch in recorder.calls["on_completion"] for r in batch]


def send_train(env, body="train p1", group="p1", dedup="d1"):
    boto3.client("sqs").send_message(
        QueueUrl=env["ACTIVELABEL_TRAIN_QUEUE_URL"], MessageBody=body, MessageGroupId=group,
        MessageDeduplicationId=dedup,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "train"}})


def queue_counts(url):
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
        "Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"])


def test_put_update_delete_reach_on_completion(env, pump, recorder):
    table = completions_table(env)
    before = time.time()
    table.put_item(Item={"project_id": "p1", "completion_id": "c1", "label": "spam"})
    table.update_item(Key={"project_id": "p1", "completion_id": "c1"},
                      UpdateExpression="SET label = :l", ExpressionAttributeValues={":l": "ham"})
    table.delete_item(Key={"project_id": "p1", "completion_id": "c1"})
    assert pump.drain(timeout=10) == 3

    records = stream_records(recorder)
    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    assert isinstance(insert, DynamoDBRecord)
    assert insert.keys == {"project_id": {"S": "p1"}, "completion_id": {"S": "c1"}}
    assert insert.new_image["label"] == {"S": "spam"}
    assert insert.old_image is None
    assert modify.old_image["label"] == {"S": "spam"} and modify.new_image["label"] == {"S": "ham"}
    assert remove.new_image is None and remove.old_image["label"] == {"S": "ham"}
    assert insert.event_source_arn == env[config.COMPLETIONS_STREAM_ENV]
    assert insert.table_name == env["ACTIVELABEL_COMPLETIONS_TABLE"]
    assert insert.aws_region == "us-east-1"
    assert insert.stream_view_type == "NEW_AND_OLD_IMAGES"
    ts = insert.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert before - 5 <= ts <= time.time() + 5
    assert int(insert.sequence_number) < int(modify.sequence_number) < int(
        remove.sequence_number)

    (event,) = pump.delivered_stream_batches
    raw = event["Records"][0]
    assert set(raw) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion",
                        "dynamodb", "eventSourceARN"}
    assert raw["eventVersion"] == "1.1" and raw["eventSource"] == "aws:dynamodb"
    assert isinstance(raw["dynamodb"]["ApproximateCreationDateTime"], float)
    assert isinstance(raw["dynamodb"]["SizeBytes"], int)

    # Nothing is delivered twice.
    assert pump.poll_once() == 0
    assert len(stream_records(recorder)) == 3


def test_recorded_stream_batches_can_be_replayed(env, pump, recorder):
    completions_table(env).put_item(Item={"project_id": "p1", "completion_id": "c1"})
    pump.drain(timeout=10)
    (event,) = pump.delivered_stream_batches
    pump.invoke("on_completion", event)
    first, replayed = recorder.calls["on_completion"]
    assert [r.to_dict() for r in first] == [r.to_dict() for r in replayed]


def test_stream_partial_batch_failure_redelivers_from_the_failed_record(env, pump, recorder):
    table = completions_table(env)
    for i in range(3):
        table.put_item(Item={"project_id": "p1", "completion_id": f"c{i}"})
    answers = iter([lambda recs: {"batchItemFailures": [
        {"itemIdentifier": recs[1].sequence_number}]}])

    def hook(event, records):
        answer = next(answers, None)
        return answer(records) if answer else {"batchItemFailures": []}

    recorder.hooks["on_completion"] = hook
    pump.drain(timeout=10)
    first, second = recorder.calls["on_completion"]
    ids = lambda recs: [r.keys["completion_id"]["S"] for r in recs]  # noqa: E731
    assert ids(first) == ["c0", "c1", "c2"]
    assert ids(second) == ["c1", "c2"]
    assert [r.event_id for r in second] == [r.event_id for r in first[1:]]
    assert pump.dead_letters == []


def test_raising_stream_handler_gives_up_and_moves_on(env, pump, recorder):
    table = completions_table(env)
    table.put_item(Item={"project_id": "p1", "completion_id": "poison"})

    def hook(event, records):
        if any(r.keys["completion_id"]["S"] == "poison" for r in records):
            raise ValueError("cannot handle this one")

    recorder.hooks["on_completion"] = hook
    pump.drain(timeout=10)
    assert len(recorder.calls["on_completion"]) == pump.max_attempts == 3
    (dead,) = pump.dead_letters
    assert dead["function"] == "on_completion"
    assert dead["record"]["dynamodb"]["Keys"]["completion_id"] == {"S": "poison"}
    assert dead["attempts"] == 3 and "cannot handle this one" in dead["error"]
    assert len(pump.errors) == 3

    table.put_item(Item={"project_id": "p1", "completion_id": "fine"})
    pump.drain(timeout=10)
    assert recorder.calls["on_completion"][-1][0].keys["completion_id"] == {"S": "fine"}
    assert len(pump.dead_letters) == 1


def test_persistently_reported_record_is_dead_lettered_alone(env, pump, recorder):
    table = completions_table(env)
    for name in ("a", "bad", "c"):
        table.put_item(Item={"project_id": "p1", "completion_id": name})

    def hook(event, records):
        return {"batchItemFailures": [{"itemIdentifier": r.sequence_number} for r in records
                                      if r.keys["completion_id"]["S"] == "bad"]}

    recorder.hooks["on_completion"] = hook
    pump.drain(timeout=10)
    assert [d["record"]["dynamodb"]["Keys"]["completion_id"]["S"] for d in pump.dead_letters
            ] == ["bad"]
    last = recorder.calls["on_completion"][-1]
    assert [r.keys["completion_id"]["S"] for r in last] == ["c"]


def test_sqs_message_reaches_train_worker_and_is_deleted(env, pump, recorder):
    send_train(env)
    assert pump.drain(timeout=10) == 1
    ((record,),) = recorder.calls["train_worker"]
    assert record.body == "train p1"
    raw = record.to_dict()
    assert raw["eventSource"] == "aws:sqs"
    assert raw["eventSourceARN"].endswith(":activelabel-local-train.fifo")
    assert raw["awsRegion"] == "us-east-1"
    assert raw["attributes"]["MessageGroupId"] == "p1"
    assert raw["attributes"]["MessageDeduplicationId"] == "d1"
    assert raw["attributes"]["ApproximateReceiveCount"] == "1"
    assert raw["messageAttributes"]["kind"] == {"stringValue": "train", "stringListValues": [],
                                                "binaryListValues": [], "dataType": "String"}
    assert raw["md5OfBody"] and raw["messageId"] and raw["receiptHandle"]
    assert queue_counts(env["ACTIVELABEL_TRAIN_QUEUE_URL"]) == 0


def test_a_held_worker_gets_its_messages_after_the_block(env, pump, recorder):
    with pump.holding("train_worker"):
        send_train(env)
        assert pump.drain(timeout=10) == 0 and not recorder.calls["train_worker"]
        assert queue_counts(env["ACTIVELABEL_TRAIN_QUEUE_URL"]) == 1  # waiting, not lost
    assert pump.drain(timeout=10) == 1 and len(recorder.calls["train_worker"]) == 1


def test_sqs_batch_item_failure_redelivers(env, pump, recorder):
    send_train(env)
    answers = iter([True])

    def hook(event, records):
        if next(answers, False):
            return {"batchItemFailures": [{"itemIdentifier": records[0].to_dict()["messageId"]}]}
        return None

    recorder.hooks["train_worker"] = hook
    pump.drain(timeout=10)
    first, second = recorder.calls["train_worker"]
    assert first[0].to_dict()["messageId"] == second[0].to_dict()["messageId"]
    assert second[0].to_dict()["attributes"]["ApproximateReceiveCount"] == "2"
    assert queue_counts(env["ACTIVELABEL_TRAIN_QUEUE_URL"]) == 0


def test_raising_train_worker_sends_the_message_to_the_dlq(env, pump, recorder):
    send_train(env)

    def hook(event, records):
        raise RuntimeError("training exploded")

    recorder.hooks["train_worker"] = hook
    pump.drain(timeout=10)
    assert len(recorder.calls["train_worker"]) == 3  # maxReceiveCount in the template
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName="activelabel-local-train-dlq.fifo")["QueueUrl"]
    (moved,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert moved["Body"] == "train p1"
    assert queue_counts(env["ACTIVELABEL_TRAIN_QUEUE_URL"]) == 0


def test_drain_raises_when_a_handler_feeds_its_own_stream(env, pump, recorder):
    table = completions_table(env)
    counter = iter(range(10**6))

    def hook(event, records):
        table.put_item(Item={"project_id": "p1", "completion_id": f"echo{next(counter)}"})

    recorder.hooks["on_completion"] = hook
    table.put_item(Item={"project_id": "p1", "completion_id": "start"})
    with pytest.raises(RuntimeError, match="on_completion received"):
        pump.drain(timeout=0.5)


def test_fire_schedules_calls_retrain_schedule(env, pump, recorder):
    assert pump.fire_schedules() == 1
    ((event,),) = recorder.calls["retrain_schedule"]
    assert isinstance(event, CloudWatchEvent)
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.region == "us-east-1"
    assert event.resources[0].startswith("arn:aws:events:us-east-1:")
    assert ":rule/" in event.resources[0]
    assert event.detail == {}
    datetime.datetime.strptime(event.time, "%Y-%m-%dT%H:%M:%SZ")


def test_run_forever_delivers_in_the_background(env, pump, recorder):
    """The loop delivers without anyone draining. (How fast is measured in bench/event_latency.py,
    never asserted here: these machines are shared.)"""
    got = threading.Event()
    recorder.hooks["on_completion"] = lambda event, records: got.set()
    recorder.hooks["train_worker"] = lambda event, records: got.set()
    thread, stop = pump.start(interval=0.05)
    try:
        completions_table(env).put_item(Item={"project_id": "p1", "completion_id": "c1"})
        assert got.wait(15.0), "stream record not delivered by the background loop"
        got.clear()
        send_train(env)
        assert got.wait(15.0), "queue message not delivered by the background loop"
        # drain() beside the running loop settles and delivers nothing twice.
        pump.drain(timeout=5)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert len(stream_records(recorder)) == 1 and len(recorder.calls["train_worker"]) == 1


def test_run_forever_survives_errors_and_fires_schedules(env, pump, recorder):
    fired = threading.Event()
    recorder.hooks["on_completion"] = lambda event, records: 1 / 0
    recorder.hooks["retrain_schedule"] = lambda event, records: fired.set()
    completions_table(env).put_item(Item={"project_id": "p1", "completion_id": "c1"})
    thread, stop = pump.start(interval=0.02, schedule_every=0.2)
    try:
        assert fired.wait(15.0)
        deadline = time.monotonic() + 15.0
        while not pump.dead_letters and time.monotonic() < deadline:
            time.sleep(0.05)  # the failing record is retried max_attempts times, then set aside
    finally:
        stop.set()
        thread.join(5)
    assert len(pump.dead_letters) == 1


def test_ttl_sweep_deletes_only_expired_items(env, pump):
    table = boto3.resource("dynamodb").Table(env[config.RESOURCE_ENV["LedgerTable"]])
    now = 1_800_000_000
    table.put_item(Item={"pk": "p#1", "sk": "old", "expires_at": now - 1})
    table.put_item(Item={"pk": "p#1", "sk": "new", "expires_at": now + 3600})
    table.put_item(Item={"pk": "p#1", "sk": "forever"})
    assert pump.sweep_ttl(now=now) == 1
    assert sorted(i["sk"] for i in table.scan()["Items"]) == ["forever", "new"]
    assert pump.sweep_ttl(now=now) == 0


def test_handled_stream_records_are_trimmed_unhandled_ones_kept(env, recorder, app_factory):
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.local.pump import EventPump

    pump = EventPump(app_factory(env, recorder), env, stream_keep=5)
    table = completions_table(env)
    for i in range(12):
        table.put_item(Item={"project_id": "p1", "completion_id": f"c{i:02d}"})
    assert pump.drain() == 12
    shard = dynamodb_backends["123456789012"]["us-east-1"].tables[
        env["ACTIVELABEL_COMPLETIONS_TABLE"]].stream_shard
    assert len(shard.items) == 5, "only the last 5 handled records are kept"
    for i in range(12, 15):
        table.put_item(Item={"project_id": "p1", "completion_id": f"c{i:02d}"})
    assert pump.drain() == 3
    delivered = [r.keys["completion_id"]["S"] for r in stream_records(recorder)]
    assert delivered == [f"c{i:02d}" for i in range(15)], "each record once, in order"
    assert len(shard.items) == 5
    # a new reader from TRIM_HORIZON starts at the oldest record kept
    streams = boto3.client("dynamodbstreams")
    arn = env[config.COMPLETIONS_STREAM_ENV]
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = streams.get_records(ShardIterator=it)["Records"]
    assert [r["dynamodb"]["Keys"]["completion_id"]["S"] for r in got] == [
        "c10", "c11", "c12", "c13", "c14"]


def test_a_slow_queue_handler_holds_no_other_project_s_events(env, pump, recorder):
    """Issue 26, item 3: a call that hangs in one project's train worker (a Label Studio export
    that drips) does not hold the stream or another project's queue messages: the background loop
    hands queue batches to worker threads, as Lambda runs invocations side by side."""
    release, got_fast, got_stream = threading.Event(), threading.Event(), threading.Event()

    def train(event, records):
        if records[0].body == "slow":
            release.wait(30)
        else:
            got_fast.set()

    recorder.hooks["train_worker"] = train
    recorder.hooks["on_completion"] = lambda event, records: got_stream.set()
    thread, stop = pump.start(interval=0.05)
    try:
        send_train(env, body="slow", group="p1", dedup="s1")
        deadline = time.monotonic() + 15
        while not recorder.calls["train_worker"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert recorder.calls["train_worker"], "the slow message was not delivered"
        send_train(env, body="fast", group="p2", dedup="f1")
        completions_table(env).put_item(Item={"project_id": "p2", "completion_id": "c1"})
        assert got_fast.wait(15.0) and got_stream.wait(15.0), "held behind the slow handler"
        assert not release.is_set()
    finally:
        release.set()
        stop.set()
        thread.join(10)
    pump.drain(timeout=10)
    assert queue_counts(env["ACTIVELABEL_TRAIN_QUEUE_URL"]) == 0
