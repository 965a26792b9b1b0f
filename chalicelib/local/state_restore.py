"""Putting a state dir back into moto on start (`StateStore.restore`, chalicelib.local.state).

Items, stream records, S3 object versions and queue messages go back into moto's own objects;
messages that were in flight become visible at once (their consumer died with the process).
"""
from __future__ import annotations

import logging
import pickle
from typing import Any

from chalicelib.local.motoserver import MOTO_LOCK

log = logging.getLogger("chalicelib.local.state")  # the state's one logger


def restore_into_moto(store: Any) -> dict[str, int]:
    """Put what `store` (a StateStore) holds into moto; returns counts of what was restored."""
    counts = {"items": 0, "stream_records": 0, "objects": 0, "messages": 0}
    with MOTO_LOCK:
        backend = store._dynamodb()
        counts["items"] = _restore_items(store, backend)
        counts["stream_records"] = _restore_streams(store, backend)
        counts["objects"] = _restore_objects(store)
        counts["messages"] = _restore_messages(store)
    return counts


def _restore_items(store: Any, backend: Any) -> int:
    n = 0
    for table_name, blob in store.db.execute("SELECT tbl, item FROM ddb_items"):
        table = backend.tables.get(table_name)
        if table is None:
            log.warning("state: table %s is no longer in the template; its items are "
                        "ignored", table_name)
            continue
        item = pickle.loads(blob)
        if table.range_key_attr is None:
            table.items[item.hash_key] = item
        else:
            table.items[item.hash_key][item.range_key] = item
        n += 1
    return n


def _restore_streams(store: Any, backend: Any) -> int:
    from moto.dynamodb.models.table import StreamRecord

    n = 0
    for table_name, table in backend.tables.items():
        shard = table.stream_shard
        if shard is None:
            continue
        rows = store.db.execute(
            "SELECT seq, record FROM stream_records WHERE tbl=? ORDER BY seq",
            (table_name,)).fetchall()
        start = store.get_locked(f"stream-start:{table_name}")
        if rows:
            start = int(rows[0][0])
        if start is not None:
            shard.starting_sequence_number = int(start)
        records = []
        for _, blob in rows:
            rec = object.__new__(StreamRecord)
            rec.record = pickle.loads(blob)
            records.append(rec)
        shard.items = records
        store._stream_upto[table_name] = shard.starting_sequence_number + len(records) - 1
        n += len(records)
    return n


def _restore_objects(store: Any) -> int:
    n = 0
    s3 = store._s3()
    for bucket_name, key_name, blob in store.db.execute(
            "SELECT bucket, name, versions FROM s3_keys"):
        bucket = s3.buckets.get(bucket_name)
        if bucket is None:
            continue
        versions = pickle.loads(blob)
        dict.__setitem__(bucket.keys, key_name, versions)
        store._s3_seen[(bucket_name, key_name)] = store._fingerprint(versions)
        n += 1
    return n


def _restore_messages(store: Any) -> int:
    n = 0
    sqs = store._sqs()
    for name, blob in store.db.execute("SELECT name, messages FROM sqs_queues"):
        queue = sqs.queues.get(name)
        if queue is None:
            continue
        messages = pickle.loads(blob)
        for m in messages:
            m.visible_at = 0.0  # its consumer died with the previous process
        queue._messages = messages
        queue._pending_messages = set()
        store._sqs_seen[name] = store._queue_fingerprint(queue)
        n += len(messages)
    return n
