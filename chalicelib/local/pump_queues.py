"""The event pump's SQS delivery (mixed into `EventPump`, chalicelib.local.pump).

Succeeded messages are deleted; failed ones become visible again at once, and go to the queue's
DLQ (its RedrivePolicy) or, without one, to `dead_letters` after `max_attempts` receives.

Concurrent delivery (`run_forever`, as Lambda runs invocations side by side): each batch is handed
to a worker thread, at most QUEUE_WORKERS batches of a queue at a time, while the pump goes on
polling the streams and the other queues; a message in flight stays invisible (the queue's
visibility timeout), so one slow call (a Label Studio export that drips) holds one worker, not
the other projects' events. `drain()` and `poll_once()` deliver in the caller's thread.
"""
from __future__ import annotations

import base64
import copy
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib import config

log = logging.getLogger("chalicelib.local.pump")  # the pump's one logger


@dataclass
class _QueueSource:
    function_name: str
    queue_url: str
    queue_arn: str
    batch_size: int
    max_receive_count: int | None  # from the RedrivePolicy
    in_flight: int = 0  # batches on worker threads (concurrent delivery)
    pool: ThreadPoolExecutor | None = field(default=None, repr=False)


QUEUE_WORKERS = 4


class QueueDelivery:
    """SQS polling and delivery of `EventPump`."""

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

    def _poll_queue(self, src: _QueueSource, concurrent: bool = False) -> int:
        if concurrent and src.in_flight >= QUEUE_WORKERS:
            return 0  # as a throttled function: the messages wait
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
        if not concurrent:
            self._settle_queue_batch(src, messages, *self._invoke_absorbing(src.function_name, event))
            return len(messages)
        if src.pool is None:
            src.pool = ThreadPoolExecutor(QUEUE_WORKERS, thread_name_prefix=f"pump-{src.function_name}")
        src.in_flight += 1
        src.pool.submit(self._deliver_unlocked, src, messages, event)
        return len(messages)

    def _deliver_unlocked(self, src: _QueueSource, messages: list, event: dict) -> None:
        """One batch on a worker thread: the handler runs outside the pump's lock."""
        try:
            ok, result = self._invoke_absorbing(src.function_name, event, locked=False)
            with self._lock:
                self._settle_queue_batch(src, messages, ok, result)
        except Exception:
            log.exception("event pump: settling a batch of %s failed", src.function_name)
        finally:
            with self._lock:
                src.in_flight -= 1

    def queues_in_flight(self) -> int:
        return sum(q.in_flight for q in self._queues or [])

    def _settle_queue_batch(self, src: _QueueSource, messages: list, ok: bool, result: Any) -> None:
        sqs = self._client("sqs")
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
