"""The event pump: what Lambda's event source mappings and EventBridge do, in-process.

`chalice local` serves HTTP only and moto never invokes functions without Docker nor fires
schedules, so the local stack polls the moto DynamoDB stream and SQS queues itself, builds
events shaped like the ones Lambda sends, and calls the real Chalice handlers directly
(`app.handler_map[name](event, context)`).

Semantics follow Lambda's where it matters for correctness:

- DynamoDB streams: batches of up to the handler's batch size (100 by default) per shard, in
  order, read from TRIM_HORIZON. A partial batch response (`batchItemFailures` with sequence
  numbers) redelivers from the lowest failed record on the next poll (ReportBatchItemFailures);
  a raising handler gets the whole batch again. After `max_attempts` deliveries the failed
  record (the whole batch when the handler raised) goes to `dead_letters`, like an on-failure
  destination, and the shard moves on: the pump never wedges.
- SQS: messages that succeeded are deleted; failed ones (`batchItemFailures` by messageId, or
  all when the handler raised) become visible again at once, and the queue's RedrivePolicy
  moves them to its DLQ after maxReceiveCount receives. Without a RedrivePolicy the pump drops
  a message into `dead_letters` after `max_attempts` receives.
- Schedules: `fire_schedules()` sends a CloudWatch "Scheduled Event" to every `@app.schedule`
  function; `run_forever(schedule_every=...)` does it periodically.
- Time to live: moto never expires items, so `sweep_ttl()` deletes the items of TTL-enabled
  tables whose TTL attribute is past (conditionally, as DynamoDB's TTL does, within minutes rather
  than DynamoDB's 48 hours); `run_forever` runs it every `ttl_every` seconds.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import copy
import datetime
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from chalicelib import config

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "123456789012"


class LambdaContext:
    """The attributes of Lambda's context object that handlers use."""

    def __init__(self, function_name: str, *, memory_limit_in_mb: int = 1024,
                 timeout_s: float = 900.0, region: str = "us-east-1",
                 account_id: str = DEFAULT_ACCOUNT, clock: Callable[[], float] = time.time):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{account_id}:function:{function_name}")
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


@dataclass
class PumpError:
    """A handler failure the pump absorbed (also logged with its traceback)."""
    function: str
    error: BaseException
    event: dict


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    closed: bool = False  # no more records will be fetched
    last_fetched_seq: str | None = None
    handled_seq: str | None = None  # the last record handled (or given up on), in order
    buffer: list[dict] = field(default_factory=list)  # fetched, not yet done
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.closed and not self.buffer


@dataclass
class _StreamSource:
    function_name: str
    stream_arn: str
    batch_size: int
    shards: dict[str, _Shard] = field(default_factory=dict)
    last_refresh: float = float("-inf")


@dataclass
class _QueueSource:
    function_name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    max_receive_count: int | None  # from the RedrivePolicy


def _epoch(value: Any) -> float:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return float(value)


class EventPump:
    """Deliver DynamoDB stream, SQS and schedule events to a Chalice app's handlers.

    `env` is the mapping `create_resources` returned (the process env must hold it too, since
    the handlers read it); the pump finds its sources in `app.event_sources`. Thread-safe: one
    lock serialises deliveries, so `drain()` may be called while `run_forever` runs.
    """

    def __init__(self, app: Any, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, *,
                 session: Any = None, region: str | None = None,
                 max_attempts: int = 3, record_deliveries: bool = False,
                 shard_refresh_s: float = 1.0, timeout_s: float = 900.0,
                 prune_moto_iterators: bool = True, state: Any = None,
                 stream_keep: int = 1000):
        self.app = app
        self.env = dict(env or {})
        self.clock = clock
        self.region = (region or self.env.get("AWS_REGION")
                       or self.env.get("AWS_DEFAULT_REGION") or config.region())
        self.max_attempts = max_attempts
        self.record_deliveries = record_deliveries
        self.shard_refresh_s = shard_refresh_s
        self.timeout_s = timeout_s
        self.prune_moto_iterators = prune_moto_iterators
        # chalicelib.local.state.StateStore: where the pump keeps its stream positions and its
        # schedule, so a restarted stack resumes after the last handled record.
        self.state = state
        self.stream_keep = stream_keep  # handled stream records kept in an in-process moto
        self.account_id = DEFAULT_ACCOUNT
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._streams: list[_StreamSource] | None = None
        self._queues: list[_QueueSource] | None = None
        # Inspection
        self.dead_letters: list[dict] = []
        self.errors: collections.deque[PumpError] = collections.deque(maxlen=100)
        self.delivered_stream_batches: list[dict] = []  # exact events, when record_deliveries
        self.delivered_sqs_batches: list[dict] = []
        self.delivered: collections.Counter[str] = collections.Counter()  # function -> records
        self.total_delivered = 0
        self.held: set[str] = set()  # functions whose queues are not polled for now (`holding`)
        self._ttl_tables: list[tuple[str, str, list[str]]] | None = None  # name, attr, key names

    # ------------------------------------------------------------------ plumbing

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3
                self._session = boto3.session.Session()
            self._clients[service] = self._session.client(service, region_name=self.region)
        return self._clients[service]

    def _context(self, function_name: str) -> LambdaContext:
        return LambdaContext(function_name, timeout_s=self.timeout_s, region=self.region,
                             account_id=self.account_id, clock=self.clock)

    def _setup(self) -> None:
        if self._streams is not None:
            return
        streams: list[_StreamSource] = []
        queues: list[_QueueSource] = []
        for source in getattr(self.app, "event_sources", []):
            kind = type(source).__name__
            if kind == "DynamoDBEventConfig":
                streams.append(self._stream_source(source))
            elif kind == "SQSEventConfig":
                queues.append(self._queue_source(source))
            elif kind not in ("ScheduledEventConfig",):
                log.warning("event pump: %s (%s) is not delivered locally", source.name, kind)
        self._streams, self._queues = streams, queues
        log.info("event pump: streams %s, queues %s, schedules %s",
                 [s.function_name for s in streams], [q.function_name for q in queues],
                 self.schedule_functions())

    def _stream_source(self, source: Any) -> _StreamSource:
        arn = source.stream_arn
        table = arn.split(":", 5)[5].split("/")[1]
        ddb = self._client("dynamodb")
        try:
            latest = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        except ddb.exceptions.ResourceNotFoundException:
            raise RuntimeError(
                f"{source.name} listens to the stream of table {table}, which does not "
                "exist: create the resources (and set the env) before importing the app"
            ) from None
        if not latest:
            raise RuntimeError(f"{source.name}: table {table} has no stream")
        if latest != arn:
            log.warning("%s was registered with stream %s; delivering %s (the table's "
                        "current stream)", source.name, arn, latest)
        self.account_id = latest.split(":")[4] or self.account_id
        return _StreamSource(source.name, latest, max(1, min(source.batch_size or 100, 10000)))

    def _queue_source(self, source: Any) -> _QueueSource:
        sqs = self._client("sqs")
        name = source.queue or source.queue_arn.rsplit(":", 1)[1]
        url = self.env.get(config.RESOURCE_ENV["TrainQueue"]) if (
            name == self.env.get(config.TRAIN_QUEUE_NAME_ENV)) else None
        url = url or sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        max_receive = None
        if attrs.get("RedrivePolicy"):
            max_receive = int(json.loads(attrs["RedrivePolicy"])["maxReceiveCount"])
        return _QueueSource(source.name, url, attrs["QueueArn"],
                            max(1, min(source.batch_size or 10, 10)), max_receive)

    def _invoke_absorbing(self, function_name: str, event: dict) -> tuple[bool, Any]:
        try:
            return True, self.invoke(function_name, event)
        except Exception as e:  # a handler failure must never stop the pump
            log.exception("event pump: %s raised", function_name)
            self.errors.append(PumpError(function_name, e, event))
            return False, e

    def _count(self, function_name: str, n: int) -> None:
        self.delivered[function_name] += n
        self.total_delivered += n

    @staticmethod
    def _failed_ids(result: Any, ids: list[str]) -> list[str] | None:
        """Identifiers reported failed; None means the whole batch failed (bad response)."""
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return []
        failed = []
        for item in result["batchItemFailures"]:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not ident or ident not in ids:
                log.warning("batchItemFailures names %r, not in the batch: whole batch failed",
                            ident)
                return None
            failed.append(ident)
        return failed

    # ------------------------------------------------------------------ public API

    def invoke(self, function_name: str, event: dict) -> Any:
        """Call one handler with `event` as Lambda would (exceptions propagate)."""
        handler = self.app.handler_map[function_name]
        with self._lock:
            return handler(event, self._context(function_name))

    def prepare(self) -> None:
        """Find the app's streams and queues (raises on a wiring error: unknown stream or queue)
        without delivering anything."""
        with self._lock:
            self._setup()

    def poll_once(self) -> int:
        """One pass over every stream shard and queue; returns records/messages delivered."""
        with self._lock:
            self._setup()
            n = 0
            for stream in self._streams or []:
                n += self._poll_stream(stream)
            for queue in self._queues or []:
                if queue.function_name not in self.held:
                    n += self._poll_queue(queue)
            return n

    @contextlib.contextmanager
    def holding(self, *function_names: str):
        """Leave the queues of `function_names` unpolled inside the block (messages wait, as when
        Lambda is throttled): lets a test make many requests before a worker runs."""
        with self._lock:
            self.held.update(function_names)
        try:
            yield
        finally:
            with self._lock:
                self.held.difference_update(function_names)

    def schedule_functions(self) -> list[str]:
        names = [s.name for s in getattr(self.app, "event_sources", [])
                 if type(s).__name__ == "ScheduledEventConfig"]
        if not names and "retrain_schedule" in getattr(self.app, "handler_map", {}):
            names = ["retrain_schedule"]
        return names

    def fire_schedules(self) -> int:
        """Send a Scheduled Event to every `@app.schedule` function; returns how many ran OK."""
        ok_count = 0
        with self._lock:
            for name in self.schedule_functions():
                now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
                app_name = getattr(self.app, "app_name", "app")
                event = {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": self.account_id,
                    "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.region,
                    "resources": [f"arn:aws:events:{self.region}:{self.account_id}:rule/"
                                  f"{app_name}-{config.stage()}-{name}-event"],
                    "detail": {},
                }
                ok, _ = self._invoke_absorbing(name, event)
                ok_count += ok
        return ok_count

    def drain(self, timeout: float = 60.0) -> int:
        """Poll until two passes in a row deliver nothing; returns what was delivered.

        Raises RuntimeError naming the functions that kept receiving events when it does not
        settle within `timeout` seconds (a handler writing to its own streamed table loops in
        AWS too).
        """
        deadline = time.monotonic() + timeout
        start_total = self.total_delivered
        start_counts = collections.Counter(self.delivered)
        quiet = 0
        last_total = self.total_delivered
        while True:
            n = self.poll_once()
            total = self.total_delivered  # counts deliveries by other threads too
            quiet = quiet + 1 if (n == 0 and total == last_total) else 0
            last_total = total
            if quiet >= 2:
                return total - start_total
            if time.monotonic() > deadline:
                moving = collections.Counter(self.delivered)
                moving.subtract(start_counts)
                what = ", ".join(f"{fn} received {c} records" for fn, c in
                                 moving.most_common() if c > 0) or "nothing counted"
                raise RuntimeError(
                    f"event pump did not settle within {timeout:g}s: {what} "
                    "(does a handler write to the table or queue it consumes?)")
            if n == 0:
                time.sleep(0.01)

    def sweep_ttl(self, now: float | None = None) -> int:
        """Delete the expired items of every TTL-enabled table; returns how many went."""
        ddb = self._client("dynamodb")
        if self._ttl_tables is None:
            tables = []
            for page in ddb.get_paginator("list_tables").paginate():
                for name in page["TableNames"]:
                    ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
                    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                        keys = [k["AttributeName"] for k in
                                ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
                        tables.append((name, ttl["AttributeName"], keys))
            self._ttl_tables = tables
        now_s = {"N": str(int(self.clock() if now is None else now))}
        deleted = 0
        for name, attr, keys in self._ttl_tables:
            names = {"#ttl": attr, **{f"#k{i}": k for i, k in enumerate(keys)}}
            scan = {"TableName": name, "FilterExpression": "#ttl < :now",
                    "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
                    "ExpressionAttributeNames": names, "ExpressionAttributeValues": {":now": now_s}}
            for page in ddb.get_paginator("scan").paginate(**scan):
                for key in page.get("Items", []):
                    try:
                        ddb.delete_item(TableName=name, Key=key,
                                        ConditionExpression="#ttl < :now",
                                        ExpressionAttributeNames={"#ttl": attr},
                                        ExpressionAttributeValues={":now": now_s})
                        deleted += 1
                    except ddb.exceptions.ConditionalCheckFailedException:
                        pass  # refreshed meanwhile
        if deleted:
            log.info("event pump: %d expired items deleted (time to live)", deleted)
        return deleted

    def run_forever(self, stop: threading.Event, interval: float = 0.2,
                    schedule_every: float | None = None, ttl_every: float | None = 600.0
                    ) -> None:
        """Poll until `stop` is set; fire schedules every `schedule_every` seconds.

        Polls again at once while events keep coming, else waits `interval`. Exceptions are
        logged and never end the loop.
        """
        next_schedule = self.clock() + schedule_every if schedule_every else None
        if next_schedule is not None and self.state is not None:
            stored = self.state.get("schedule-next")  # when the previous process would fire
            if stored is not None:
                next_schedule = min(float(stored), next_schedule)
            self.state.put("schedule-next", repr(next_schedule))
        next_ttl = self.clock() + ttl_every if ttl_every else None
        while not stop.is_set():
            n = 0
            try:
                n = self.poll_once()
            except Exception:
                log.exception("event pump: poll failed")
            if next_schedule is not None and self.clock() >= next_schedule:
                next_schedule = self.clock() + schedule_every  # type: ignore[operator]
                if self.state is not None:
                    self.state.put("schedule-next", repr(next_schedule))
                try:
                    self.fire_schedules()
                except Exception:
                    log.exception("event pump: firing schedules failed")
            if next_ttl is not None and self.clock() >= next_ttl:
                next_ttl = self.clock() + ttl_every  # type: ignore[operator]
                try:
                    self.sweep_ttl()
                except Exception:
                    log.exception("event pump: the time-to-live sweep failed")
            if n == 0:
                stop.wait(interval)

    def start(self, interval: float = 0.2, schedule_every: float | None = None
              ) -> tuple[threading.Thread, threading.Event]:
        """Run `run_forever` in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(target=self.run_forever, args=(stop, interval, schedule_every),
                                  name="activelabel-event-pump", daemon=True)
        thread.start()
        return thread, stop

    # ------------------------------------------------------------------ streams

    def _refresh_shards(self, src: _StreamSource) -> None:
        now = time.monotonic()
        if src.shards and now - src.last_refresh < self.shard_refresh_s:
            return
        src.last_refresh = now
        streams = self._client("dynamodbstreams")
        kwargs: dict[str, Any] = {"StreamArn": src.stream_arn}
        while True:
            desc = streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in desc.get("Shards", []):
                if shard["ShardId"] not in src.shards:
                    new = _Shard(shard["ShardId"], shard.get("ParentShardId"))
                    if self.state is not None:
                        new.handled_seq = new.last_fetched_seq = self.state.get(
                            self._checkpoint_name(src, new))
                    src.shards[shard["ShardId"]] = new
            last = desc.get("LastEvaluatedShardId")
            if not last:
                break
            kwargs["ExclusiveStartShardId"] = last

    def _poll_stream(self, src: _StreamSource) -> int:
        self._refresh_shards(src)
        n = 0
        for shard in list(src.shards.values()):
            parent = src.shards.get(shard.parent_id) if shard.parent_id else None
            if shard.done or (parent is not None and not parent.done):
                continue  # a child shard waits until its parent is fully processed
            n += self._poll_shard(src, shard)
        return n

    def _fetch(self, src: _StreamSource, shard: _Shard) -> None:
        streams = self._client("dynamodbstreams")
        if shard.iterator is None:
            kwargs: dict[str, Any] = {"StreamArn": src.stream_arn, "ShardId": shard.shard_id}
            if shard.last_fetched_seq is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                              SequenceNumber=shard.last_fetched_seq)
            shard.iterator = streams.get_shard_iterator(**kwargs)["ShardIterator"]
        try:
            resp = streams.get_records(ShardIterator=shard.iterator,
                                       Limit=src.batch_size - len(shard.buffer))
        except streams.exceptions.ExpiredIteratorException:
            shard.iterator = None
            return
        self._forget_moto_iterator(shard.iterator)
        records = resp.get("Records", [])
        shard.buffer.extend(records)
        if records:
            shard.last_fetched_seq = records[-1]["dynamodb"]["SequenceNumber"]
        shard.iterator = resp.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True

    def _forget_moto_iterator(self, iterator: str) -> None:
        """Drop a used shard iterator from an in-process moto, which keeps every one forever.

        Each get_records makes a new iterator (~2 KB, also listed in moto's instance registry):
        at five idle polls a second that is ~1 GB a day for a long-running `serve`. Iterators are never reused once read, so the
        pump removes them; with no in-process moto (or if moto changes) this does nothing.
        """
        if not self.prune_moto_iterators:
            return
        try:
            from moto.dynamodbstreams.models import dynamodbstreams_backends

            from chalicelib.local.motoserver import MOTO_LOCK

            with MOTO_LOCK:
                self._forget_iterator_locked(dynamodbstreams_backends, iterator)
        except Exception:  # pragma: no cover - best effort only
            self.prune_moto_iterators = False

    def _forget_iterator_locked(self, dynamodbstreams_backends: Any, iterator: str) -> None:
        backend = dynamodbstreams_backends[self.account_id][self.region]
        used = backend.shard_iterators.pop(iterator, None)
        tracked = getattr(type(used), "instances_tracked", None)  # moto's model registry
        if used is not None and tracked is not None:
            try:
                tracked.remove(used)
            except ValueError:
                pass

    def _cap_moto_deleted_handles(self, src: _QueueSource, limit: int = 10000) -> None:
        """An in-process moto queue remembers the receipt handle of every message ever deleted
        (so deleting one twice is quiet); past `limit` handles the pump forgets them."""
        if not self.prune_moto_iterators:
            return
        try:
            from moto.sqs.models import sqs_backends

            from chalicelib.local.motoserver import MOTO_LOCK

            with MOTO_LOCK:
                queue = sqs_backends[self.account_id][self.region].queues.get(
                    src.queue_url.rsplit("/", 1)[-1])
                if queue is not None and len(queue.deleted_messages) > limit:
                    queue.deleted_messages.clear()
        except Exception:  # pragma: no cover - best effort only
            pass

    def _lambda_record(self, src: _StreamSource, raw: dict) -> dict:
        ddb = dict(raw["dynamodb"])
        ddb["ApproximateCreationDateTime"] = _epoch(
            ddb.get("ApproximateCreationDateTime", self.clock()))
        ordered = {k: ddb[k] for k in ("ApproximateCreationDateTime", "Keys", "NewImage",
                                       "OldImage", "SequenceNumber", "SizeBytes",
                                       "StreamViewType") if k in ddb}
        return {
            "eventID": raw["eventID"],
            "eventName": raw["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": ordered,
            "eventSourceARN": src.stream_arn,
        }

    def _poll_shard(self, src: _StreamSource, shard: _Shard) -> int:
        if len(shard.buffer) < src.batch_size and not shard.closed:
            self._fetch(src, shard)
        if not shard.buffer:
            return 0
        batch = shard.buffer[:src.batch_size]
        event = {"Records": [self._lambda_record(src, r) for r in batch]}
        if self.record_deliveries:
            self.delivered_stream_batches.append(copy.deepcopy(event))
        ok, result = self._invoke_absorbing(src.function_name, event)
        self._count(src.function_name, len(batch))
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed = self._failed_ids(result, seqs) if ok else None
        if failed == []:
            del shard.buffer[:len(batch)]
            for s in seqs:
                shard.attempts.pop(s, None)
            self._handled(src, shard, seqs[-1])
            return len(batch)
        # Redeliver from the first failed record (the lowest sequence number), as Lambda does.
        first = 0 if failed is None else min(seqs.index(s) for s in failed)
        for s in seqs[:first]:
            shard.attempts.pop(s, None)
        del shard.buffer[:first]
        if first:
            self._handled(src, shard, seqs[first - 1])
        head = seqs[first]
        shard.attempts[head] = attempts = shard.attempts.get(head, 0) + 1
        if attempts >= self.max_attempts:
            # Give up like an on-failure destination: the failed record, or the whole batch
            # when the handler raised, and move on.
            give_up = len(batch) if failed is None else first + 1
            reason = repr(result) if not ok else (
                "whole batch failed (bad batchItemFailures)" if failed is None
                else "reported in batchItemFailures")
            for raw, rec in zip(batch[first:give_up], event["Records"][first:give_up]):
                log.error("event pump: %s gave up on stream record %s after %d attempts: %s",
                          src.function_name, rec["dynamodb"]["SequenceNumber"], attempts,
                          reason)
                self.dead_letters.append({"function": src.function_name,
                                          "eventSourceARN": src.stream_arn, "record": rec,
                                          "attempts": attempts, "error": reason})
                shard.attempts.pop(raw["dynamodb"]["SequenceNumber"], None)
            del shard.buffer[:give_up - first]
            self._handled(src, shard, seqs[give_up - 1])
        return len(batch)

    @staticmethod
    def _checkpoint_name(src: _StreamSource, shard: _Shard) -> str:
        table = src.stream_arn.split(":", 5)[5].split("/")[1]
        return f"stream-handled:{src.function_name}:{table}:{shard.shard_id}"

    def _handled(self, src: _StreamSource, shard: _Shard, seq: str) -> None:
        """Records up to `seq` are done: store the position, drop what no consumer needs."""
        shard.handled_seq = seq
        if self.state is not None:
            self.state.put(self._checkpoint_name(src, shard), seq)
        if not self.prune_moto_iterators:  # no in-process moto to trim
            return
        table = src.stream_arn.split(":", 5)[5].split("/")[1]
        handled = [int(sh.handled_seq) for other in self._streams or []
                   if other.stream_arn == src.stream_arn
                   for sh in other.shards.values()
                   if sh.shard_id == shard.shard_id and sh.handled_seq is not None]
        if len(handled) < sum(1 for other in self._streams or []
                              if other.stream_arn == src.stream_arn):
            return  # another function on this stream has handled nothing yet
        try:
            from chalicelib.local.state import trim_stream

            trim_stream(table, min(handled), keep=self.stream_keep, account_id=self.account_id,
                        region=self.region, store=self.state)
        except Exception:  # pragma: no cover - best effort only
            log.exception("event pump: trimming the stream of %s failed", table)

    # ------------------------------------------------------------------ queues

    @staticmethod
    def _message_attributes(attrs: dict) -> dict:
        out = {}
        for name, a in (attrs or {}).items():
            item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [],
                                    "dataType": a["DataType"]}
            if "StringValue" in a:
                item["stringValue"] = a["StringValue"]
            if "BinaryValue" in a:
                item["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode("ascii")
            out[name] = item
        return out

    def _sqs_record(self, src: _QueueSource, m: dict) -> dict:
        rec = {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": self._message_attributes(m.get("MessageAttributes")),
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": src.queue_arn,
            "awsRegion": self.region,
        }
        if m.get("MD5OfMessageAttributes"):
            rec["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        return rec

    def _poll_queue(self, src: _QueueSource) -> int:
        sqs = self._client("sqs")
        resp = sqs.receive_message(QueueUrl=src.queue_url, MaxNumberOfMessages=src.batch_size,
                                   MessageSystemAttributeNames=["All"],
                                   MessageAttributeNames=["All"], WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [self._sqs_record(src, m) for m in messages]}
        if self.record_deliveries:
            self.delivered_sqs_batches.append(copy.deepcopy(event))
        ok, result = self._invoke_absorbing(src.function_name, event)
        self._count(src.function_name, len(messages))
        ids = [m["MessageId"] for m in messages]
        failed = self._failed_ids(result, ids) if ok else None
        failed_set = set(ids) if failed is None else set(failed)
        done = [m for m in messages if m["MessageId"] not in failed_set]
        for i in range(0, len(done), 10):
            resp = sqs.delete_message_batch(QueueUrl=src.queue_url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]}
                for j, m in enumerate(done[i:i + 10])])
            for failure in resp.get("Failed", []):
                log.warning("event pump: could not delete a message of %s: %s",
                            src.function_name, failure)
        if done:
            self._cap_moto_deleted_handles(src)
        for m in messages:
            if m["MessageId"] not in failed_set:
                continue
            receives = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if src.max_receive_count is None and receives >= self.max_attempts:
                # No DLQ configured: drop it rather than loop forever.
                log.error("event pump: %s gave up on message %s after %d receives",
                          src.function_name, m["MessageId"], receives)
                self.dead_letters.append({"function": src.function_name,
                                          "eventSourceARN": src.queue_arn,
                                          "record": self._sqs_record(src, m),
                                          "attempts": receives, "error": repr(result)})
                sqs.delete_message(QueueUrl=src.queue_url, ReceiptHandle=m["ReceiptHandle"])
                continue
            if src.max_receive_count is not None and receives >= src.max_receive_count:
                log.error("event pump: %s failed message %s %d times; the queue's redrive "
                          "policy moves it to the dead-letter queue", src.function_name,
                          m["MessageId"], receives)
            sqs.change_message_visibility(QueueUrl=src.queue_url,
                                          ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        return len(messages)
