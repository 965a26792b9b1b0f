"""The event pump's DynamoDB stream delivery (mixed into `EventPump`, chalicelib.local.pump).

Batches per shard, in order, from TRIM_HORIZON or the stored checkpoint; partial batch responses
redeliver from the lowest failed record; after `max_attempts` the record goes to `dead_letters`.
"""
from __future__ import annotations

import copy
import datetime
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("chalicelib.local.pump")  # the pump's one logger


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



def _epoch(value: Any) -> float:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return float(value)


class StreamDelivery:
    """DynamoDB stream polling and delivery of `EventPump`."""

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
