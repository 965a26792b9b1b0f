"""The local stack's state on disk: what moto holds, kept in one SQLite file, write by write.

`make serve` keeps its state under `ACTIVELABEL_STATE_DIR` (default `.activelabel-state/` in the
checkout). The mechanism is a journal of *effects*, one SQLite transaction per acknowledged write:

- moto runs each request under `MOTO_LOCK` (chalicelib.local.motoserver); right after a write,
  still under the lock and before the answer leaves, `StateStore.after_request` reads what the
  request touched out of moto and stores it: the DynamoDB items the request names (PutItem,
  UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems), the stream records it appended,
  the versions of every S3 key whose versions changed, and the messages of every queue after an
  SQS write. A client never sees a write acknowledged that is not on disk (SQLite in WAL mode with
  `synchronous=NORMAL`: a commit survives `kill -9` of the server; a power cut may lose the last
  commits).
- The event pump stores its progress in the same file: the last stream record each function has
  handled, and when the schedule fires next.
- On start, the resources are created from the template as always, then `restore()` puts the
  stored items, stream records, object versions and messages back into moto's objects. Messages
  that were in flight (received by a worker the kill stopped) become visible at once: their
  consumer is gone, so they are retried now rather than after their visibility timeout.

A write costs the items it touches (not the size of the tables), and nothing is ever replayed, so
ids moto generates (S3 version ids, message ids, stream sequence numbers) stay what clients saw.
Resource definitions are not stored: they come from infra/resources.yaml on every start.
`restore()` is in state_restore.py.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

from chalicelib.local.motoserver import MOTO_LOCK
from chalicelib.local.state_restore import restore_into_moto

log = logging.getLogger(__name__)

STATE_DIR_ENV = "ACTIVELABEL_STATE_DIR"
DB_NAME = "state.sqlite3"
LOCK_NAME = "serve.lock"

_DYNAMODB_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                         "TransactWriteItems"}
# Other DynamoDB writes change items in ways the request does not spell out key by key: after
# one of these every table is stored again (never used by the app; kept correct, not fast).
_DYNAMODB_BULK_WRITES = {"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
                         "DeleteTable", "RestoreTableFromBackup", "RestoreTableToPointInTime",
                         "ImportTable"}
_SQS_READS = ("Get", "List")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ddb_items (tbl TEXT, hk TEXT, rk TEXT, item BLOB,
                                      PRIMARY KEY (tbl, hk, rk));
CREATE TABLE IF NOT EXISTS stream_records (tbl TEXT, seq TEXT, record BLOB,
                                           PRIMARY KEY (tbl, seq));
CREATE TABLE IF NOT EXISTS s3_keys (bucket TEXT, name TEXT, versions BLOB,
                                    PRIMARY KEY (bucket, name));
CREATE TABLE IF NOT EXISTS sqs_queues (name TEXT PRIMARY KEY, messages BLOB);
CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT);
"""


class StateDirInUse(RuntimeError):
    """Another local stack serves from the same state directory."""


def _key_text(value: Any) -> str:
    return "" if value is None else json.dumps(value.to_json(), sort_keys=True)


def _seq_text(seq: int) -> str:
    return f"{seq:030d}"  # fixed width, so text order is numeric order


class StateStore:
    """One state directory: the SQLite journal of moto's contents and the pump's progress."""

    def __init__(self, directory: str | Path, account_id: str = "123456789012",
                 region: str = "us-east-1", fresh: bool = False):
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)  # it holds the admin token and the Label Studio key in plain text
        self.account_id = account_id
        self.region = region
        self._lock_file = self._take_lock()
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                (self.directory / (DB_NAME + suffix)).unlink(missing_ok=True)
        os.close(os.open(self.directory / DB_NAME, os.O_CREAT | os.O_RDWR, 0o600))
        for suffix in ("", "-wal", "-shm"):  # SQLite gives its -wal and -shm files the database's mode
            if (self.directory / (DB_NAME + suffix)).exists():
                os.chmod(self.directory / (DB_NAME + suffix), 0o600)
        self.db = sqlite3.connect(self.directory / DB_NAME, check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._stream_upto: dict[str, int] = {}  # table -> last stream seq stored
        self._s3_seen: dict[tuple[str, str], tuple] = {}  # (bucket, key) -> versions fingerprint
        self._sqs_seen: dict[str, tuple] = {}  # queue name -> messages fingerprint
        self.restored = False

    # ------------------------------------------------------------------ lifecycle

    def _take_lock(self) -> Any:
        import fcntl

        f = os.fdopen(os.open(self.directory / LOCK_NAME, os.O_CREAT | os.O_RDWR | os.O_APPEND, 0o600), "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise StateDirInUse(f"{self.directory} is in use by another local stack") from None
        return f

    def close(self) -> None:
        with MOTO_LOCK:
            try:
                self.db.close()
            finally:
                self._lock_file.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ moto's backends

    def _dynamodb(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self.account_id][self.region]

    def _sqs(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.account_id][self.region]

    def _s3(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account_id]["global"]

    # ------------------------------------------------------------------ the journal

    def after_request(self, service: str, operation: str, method: str, body: bytes,
                      status: int) -> None:
        """Store what a request moto just answered changed (called under MOTO_LOCK)."""
        if service == "dynamodb":
            if operation in _DYNAMODB_ITEM_WRITES and status < 300:
                self._store_items(operation, body)
            elif operation in _DYNAMODB_BULK_WRITES:
                self._store_all_items()
        elif service == "sqs":
            if not operation.startswith(_SQS_READS):
                self._store_queues()
        elif service == "s3":
            if method in ("PUT", "POST", "DELETE"):
                self._store_changed_objects()

    @staticmethod
    def _touched_keys(operation: str, request: dict) -> list[tuple[str, dict]]:
        """(table, key or whole item) pairs a DynamoDB write names."""
        if operation == "PutItem":
            return [(request["TableName"], request["Item"])]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(request["TableName"], request["Key"])]
        if operation == "BatchWriteItem":
            return [(table, (w.get("PutRequest") or {}).get("Item")
                     or (w.get("DeleteRequest") or {}).get("Key"))
                    for table, writes in request.get("RequestItems", {}).items()
                    for w in writes]
        if operation == "TransactWriteItems":
            out = []
            for entry in request.get("TransactItems", []):
                for kind, op in entry.items():
                    if kind == "Put":
                        out.append((op["TableName"], op["Item"]))
                    elif kind in ("Update", "Delete"):
                        out.append((op["TableName"], op["Key"]))
            return out
        return []

    def _store_items(self, operation: str, body: bytes) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            request = json.loads(body or b"{}")
            touched = self._touched_keys(operation, request)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("state: could not read the keys of a %s; storing every table", operation)
            self._store_all_items()
            return
        backend = self._dynamodb()
        with self._transaction() as db:
            for table_name, attrs in touched:
                table = backend.tables.get(table_name)
                if table is None or not attrs or table.hash_key_attr not in attrs:
                    continue
                hash_value = DynamoType(attrs[table.hash_key_attr])
                range_value = None
                if table.range_key_attr is not None:
                    if table.range_key_attr not in attrs:
                        continue
                    range_value = DynamoType(attrs[table.range_key_attr])
                item = table.get_item(hash_value, range_value)
                self._write_item(db, table_name, hash_value, range_value, item)
            self._store_stream_records(db)

    @staticmethod
    def _write_item(db: sqlite3.Connection, table_name: str, hash_value: Any,
                    range_value: Any, item: Any) -> None:
        hk, rk = _key_text(hash_value), _key_text(range_value)
        if item is None:
            db.execute("DELETE FROM ddb_items WHERE tbl=? AND hk=? AND rk=?",
                       (table_name, hk, rk))
        else:
            db.execute("INSERT OR REPLACE INTO ddb_items VALUES (?, ?, ?, ?)",
                       (table_name, hk, rk, pickle.dumps(item, protocol=5)))

    def _store_all_items(self) -> None:
        backend = self._dynamodb()
        with self._transaction() as db:
            db.execute("DELETE FROM ddb_items")
            for name, table in backend.tables.items():
                for item in table.all_items():
                    self._write_item(db, name, item.hash_key, item.range_key, item)
            self._store_stream_records(db)

    def _store_stream_records(self, db: sqlite3.Connection) -> None:
        for name, table in self._dynamodb().tables.items():
            shard = table.stream_shard
            if shard is None:
                continue
            start = shard.starting_sequence_number
            upto = self._stream_upto.get(name, start - 1)
            first = max(upto + 1 - start, 0)
            new = shard.items[first:]
            if not new:
                continue
            db.executemany("INSERT OR REPLACE INTO stream_records VALUES (?, ?, ?)", [
                (name, _seq_text(start + first + i), pickle.dumps(r.record, protocol=5))
                for i, r in enumerate(new)])
            self._stream_upto[name] = start + len(shard.items) - 1

    @staticmethod
    def _queue_fingerprint(queue: Any) -> tuple:
        return tuple((m.id, m.approximate_receive_count, m.visible_at, m.receipt_handle)
                     for m in queue._messages)

    def _store_queues(self) -> None:
        """Store the queues whose messages changed (an empty receive, the pump's idle poll,
        changes nothing and writes nothing)."""
        changed = []
        for name, queue in self._sqs().queues.items():
            fp = self._queue_fingerprint(queue)
            if self._sqs_seen.get(name) != fp:
                changed.append((name, list(queue._messages), fp))
        if not changed:
            return
        with self._transaction() as db:
            for name, messages, _ in changed:
                db.execute("INSERT OR REPLACE INTO sqs_queues VALUES (?, ?)",
                           (name, pickle.dumps(messages, protocol=5)))
        for name, _, fp in changed:
            self._sqs_seen[name] = fp

    @staticmethod
    def _fingerprint(versions: list) -> tuple:
        return tuple((type(v).__name__, getattr(v, "_version_id", None),
                      getattr(v, "_etag", None), str(getattr(v, "last_modified", "")))
                     for v in versions)

    def _store_changed_objects(self) -> None:
        backend = self._s3()
        seen: dict[tuple[str, str], tuple] = {}
        changed: list[tuple[str, str, list]] = []
        for bucket_name, bucket in backend.buckets.items():
            for key_name, versions in dict.items(bucket.keys):
                fp = self._fingerprint(versions)
                seen[(bucket_name, key_name)] = fp
                if self._s3_seen.get((bucket_name, key_name)) != fp:
                    changed.append((bucket_name, key_name, list(versions)))
        gone = set(self._s3_seen) - set(seen)
        if not changed and not gone:
            return
        with self._transaction() as db:
            for bucket_name, key_name, versions in changed:
                db.execute("INSERT OR REPLACE INTO s3_keys VALUES (?, ?, ?)",
                           (bucket_name, key_name, pickle.dumps(versions, protocol=5)))
            for bucket_name, key_name in gone:
                db.execute("DELETE FROM s3_keys WHERE bucket=? AND name=?",
                           (bucket_name, key_name))
        self._s3_seen = seen

    # ------------------------------------------------------------------ streams

    def trim_stream(self, table_name: str, handled_seq: int, *, keep: int = 1000,
                    max_age_s: float = 24 * 3600.0) -> int:
        """Drop stream records the pump has handled beyond the last `keep`, and any handled
        record older than `max_age_s` (DynamoDB keeps 24 h); returns how many were dropped."""
        return trim_stream(table_name, handled_seq, keep=keep, max_age_s=max_age_s,
                           account_id=self.account_id, region=self.region, store=self)

    def _forget_stream_before(self, table_name: str, seq: int) -> None:
        self.db.execute("DELETE FROM stream_records WHERE tbl=? AND seq<?",
                        (table_name, _seq_text(seq)))
        self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)",
                        (f"stream-start:{table_name}", str(seq)))

    # ------------------------------------------------------------------ the pump's progress

    def get(self, name: str) -> str | None:
        with MOTO_LOCK:
            row = self.db.execute("SELECT value FROM kv WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def put(self, name: str, value: str) -> None:
        with MOTO_LOCK:
            self.db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (name, value))

    # ------------------------------------------------------------------ restore

    def restore(self) -> dict[str, int]:
        """Put the stored state back into moto (after the resources exist); returns counts."""
        counts = restore_into_moto(self)
        self.restored = any(counts.values())
        return counts

    def get_locked(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM kv WHERE name=?", (name,)).fetchone()
        return row[0] if row else None


def trim_stream(table_name: str, handled_seq: int, *, keep: int = 1000,
                max_age_s: float = 24 * 3600.0, account_id: str = "123456789012",
                region: str = "us-east-1", store: StateStore | None = None,
                now: float | None = None) -> int:
    """Drop the oldest handled records of a moto table's stream shard (see StateStore)."""
    from moto.dynamodb.models import dynamodb_backends

    now = time.time() if now is None else now
    with MOTO_LOCK:
        table = dynamodb_backends[account_id][region].tables.get(table_name)
        shard = getattr(table, "stream_shard", None)
        if shard is None:
            return 0
        start = shard.starting_sequence_number
        handled = min(max(handled_seq - start + 1, 0), len(shard.items))
        drop = max(handled - keep, 0)
        while drop < handled:  # also every handled record older than max_age_s
            created = shard.items[drop].record["dynamodb"].get("ApproximateCreationDateTime")
            if isinstance(created, datetime.datetime):
                if created.tzinfo is None:  # moto stamps records with naive UTC
                    created = created.replace(tzinfo=datetime.timezone.utc)
                stamp = created.timestamp()
            else:
                stamp = float(created or 0)
            if now - stamp <= max_age_s:
                break
            drop += 1
        if drop <= 0:
            return 0
        del shard.items[:drop]
        shard.starting_sequence_number = start + drop
        if store is not None:
            with store._transaction():
                store._forget_stream_before(table_name, start + drop)
        return drop


def default_state_dir() -> Path:
    from chalicelib.local.cfn_template import REPO_ROOT

    return Path(os.environ.get(STATE_DIR_ENV) or REPO_ROOT / ".activelabel-state")
