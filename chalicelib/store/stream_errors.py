"""Completion stream records that failed, kept on their project so /training shows them: a record
the stream gives up on (after its retries) is never only in a log.

One entry per completion id, updated on every failed attempt and removed when the record succeeds.
Writes are optimistic (conditional on the value read), so concurrent shards never lose an entry.
"""
from datetime import datetime, timezone

from pynamodb.exceptions import DoesNotExist

from chalicelib.store.dynamo import conditional
from chalicelib.store.models import ProjectModel

MAX_ENTRIES = 20
MAX_ERROR_CHARS = 500
RETRIES = 5


def _write(project_id: str, mutate) -> None:
    for _ in range(RETRIES):
        try:
            before = ProjectModel.get(project_id, consistent_read=True,
                                      attributes_to_get=["project_id", "stream_errors"]).stream_errors
        except DoesNotExist:
            return
        after = mutate(dict(before or {}))
        if after == (before or {}):
            return
        same = ProjectModel.stream_errors.does_not_exist() if before is None else ProjectModel.stream_errors == before
        action = ProjectModel.stream_errors.set(after) if after else ProjectModel.stream_errors.remove()
        if conditional(lambda: ProjectModel(project_id=project_id).update(actions=[action], condition=same)):
            return


def record(project_id: str, completion_id: str, error: str) -> None:
    def mutate(entries: dict) -> dict:
        previous = entries.pop(completion_id, {})
        entries[completion_id] = {"error": error[:MAX_ERROR_CHARS], "attempts": int(previous.get("attempts", 0)) + 1,
                                  "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))  # the oldest entry goes first
        return entries

    _write(project_id, mutate)


def clear(project_id: str, completion_id: str) -> None:
    _write(project_id, lambda entries: {k: v for k, v in entries.items() if k != completion_id})


def as_list(stream_errors: dict | None) -> list[dict]:
    return [{"completion_id": cid, **entry} for cid, entry in (stream_errors or {}).items()]
