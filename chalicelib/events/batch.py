"""Partial batch failure reporting shared by the stream and queue handlers, and the log context
of each invocation and record (telemetry/edge.py)."""
import logging
from typing import Callable, Iterable

from chalicelib.telemetry import edge

log = logging.getLogger("activelabel.events")


def process_batch(records: Iterable, handle: Callable, identifier: Callable, ordered: bool,
                  function: str, correlation_of: Callable = lambda record: None) -> dict:
    """Run `handle` on each record; report failures as Lambda's `batchItemFailures`.

    For ordered sources (DynamoDB streams) processing stops at the first failure, and that record is
    reported: Lambda then retries from it, so later records of the shard are never applied before it.
    Each record's lines carry its correlation id (`correlation_of(record)`, or a new one).
    """
    failures = []
    with edge.invocation(getattr(records, "context", None), function):
        for record in records:
            with edge.record(correlation_of(record)):
                try:
                    handle(record)
                except Exception:  # noqa: BLE001 - reported to the event source, which retries
                    log.exception("record %s failed", identifier(record), extra={"record": identifier(record)})
                    failures.append({"itemIdentifier": identifier(record)})
                    if ordered:
                        break
    return {"batchItemFailures": failures}
