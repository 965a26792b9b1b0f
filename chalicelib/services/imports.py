"""Task imports by `Idempotency-Key` (a client-chosen request header): safe to retry.

The first request with a key validates the tasks, reserves their ids and makes the import's record
(store/import_records.py: the body's sha256, the ids, the seed of its random keys), then writes.
The same key again:
- with another body: 422 naming `Idempotency-Key`;
- after the import finished: the first import's answer (the same task ids), nothing written;
- while another request is writing it: 409 with `retry_after`;
- after a request died part-way (a killed server, a Lambda timeout): it finishes the import, writing
  only the tasks and annotations not stored yet, with the same ids and random keys.
A record is kept RETENTION_SECONDS (24 h); a key sent again after that starts a new import.
"""
import hashlib
import json
import re
import secrets
import time
import uuid

from chalicelib.errors import ConflictError, IdempotencyKeyError, ImportIncompleteError, NotFoundError
from chalicelib.services import tasks
from chalicelib.store import import_records, task_import
from chalicelib.store import projects as project_db

HEADER = "Idempotency-Key"
KEY = re.compile(r"[A-Za-z0-9_.~-]{1,255}")  # URL-safe as it is (GET .../imports/{key})


def check_key(key) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise IdempotencyKeyError("must be 1 to 255 characters among letters, digits and _.~- (a UUID fits)")
    return key


def body_sha256(raw_tasks: list) -> str:
    text = json.dumps(raw_tasks, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def task_ids(record: dict) -> list[str]:
    return [str(record["first_task_id"] + i) for i in range(record["count"])]


def import_once(project_id: str, key: str, raw_tasks: list) -> tuple[list[str], bool]:
    """(the task ids, whether this answer replays a finished import)."""
    key, digest, owner = check_key(key), body_sha256(raw_tasks), uuid.uuid4().hex
    record = import_records.get(project_id, key)
    if record is not None:
        _same_body(record, digest)
        if record["state"] == "done":
            return task_ids(record), True
    project, normalized = tasks.prepare_import(project_id, raw_tasks)
    if record is None:
        record = {"sha256": digest, "first_task_id": project_db.reserve_task_ids(project_id, len(normalized)),
                  "count": len(normalized), "seed": secrets.token_hex(16),
                  "sequential": project.settings.get("sampling") == "sequential"}
        if import_records.begin(project_id, key, record, owner):
            return _write(project_id, key, owner, record, normalized, resume=False), False
        record = import_records.get(project_id, key) or record  # another request with the key came first
        _same_body(record, digest)
    if record.get("state") == "done":
        return task_ids(record), True
    if not import_records.take_lease(project_id, key, owner):
        retry_after = max(1, int(record.get("lease_until", 0) - time.time()) + 1)
        raise ConflictError(f"the import with this {HEADER} is being written by another request; send it again "
                            f"in {retry_after} s (retry_after) to get its answer", HEADER)
    return _write(project_id, key, owner, record, normalized, resume=True), False


def _same_body(record: dict, digest: str) -> None:
    if record["sha256"] != digest:
        raise IdempotencyKeyError("was used for an import with another body; choose a new key for a new import")


def _random_key(seed: str):
    def key(task_id: int) -> float:
        digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
        return int.from_bytes(digest[:7], "big") / 2 ** 56
    return key


def _write(project_id: str, key: str, owner: str, record: dict, normalized: list, resume: bool) -> list[str]:
    tasks.number_tasks(normalized, record["first_task_id"], record["sequential"], _random_key(record["seed"]))
    renewed = [time.monotonic()]

    def keep_alive():
        if time.monotonic() - renewed[0] >= import_records.LEASE_SECONDS / 2:
            if not import_records.renew(project_id, key, owner):
                raise ConflictError(f"another request took over the import with this {HEADER}", HEADER)
            renewed[0] = time.monotonic()

    try:
        task_import.put_imported_tasks(project_id, normalized, resume=resume, keep_alive=keep_alive,
                                       rollback=False)
    except ImportIncompleteError:
        import_records.renew(project_id, key, owner, -1)  # a retry may finish it at once
        raise
    import_records.finish(project_id, key, owner, {k: v for k, v in record.items()
                                                   if k not in ("lease_owner", "lease_until")})
    return task_ids(record)


def describe(project_id: str, key: str) -> dict:
    """`GET .../imports/{key}`: the import's state (importing: not finished; `writing`: a request
    holds it now) and, once done, its task ids."""
    record = import_records.get(project_id, check_key(key))
    if record is None:
        raise NotFoundError(f"no import with {HEADER} {key!r} in the last "
                            f"{import_records.RETENTION_SECONDS // 3600} h", HEADER)
    return {"key": key, "state": record["state"], "count": record["count"],
            "task_ids": task_ids(record) if record["state"] == "done" else None,
            "first_task_id": str(record["first_task_id"]),
            "writing": record["state"] != "done" and record["lease_until"] > time.time(),
            "created_at": record.get("created_at"), "finished_at": record.get("finished_at"),
            "expires_at": record.get("created_at", 0) + import_records.RETENTION_SECONDS}
