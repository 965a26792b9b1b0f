"""Partial batch failure reporting shared by the stream and queue handlers."""
import logging
from typing import Callable, Iterable

log = logging.getLogger("activelabel.events")


def process_batch(records: Iterable, handle: Callable, identifier: Callable, ordered: bool) -> dict:
    """Run `handle` on each record; report failures as Lambda's `batchItemFailures`.

    For ordered sources (DynamoDB streams) processing stops at the first failure, and that record is
    reported: Lambda then retries from it, so later records of the shard are never applied before it.
    """
    failures = []
    for record in records:
        try:
            handle(record)
        except Exception:  # noqa: BLE001 - reported to the event source, which retries
            log.exception("record %s failed", identifier(record))
            failures.append({"itemIdentifier": identifier(record)})
            if ordered:
                break
    return {"batchItemFailures": failures}
