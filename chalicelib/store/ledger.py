"""The ledger table: id counters and idempotency markers (markers expire after the stream retention)."""
import time

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from chalicelib.store.dynamo import conditional, connection
from chalicelib.store.models import LedgerModel, ProjectModel

MARKER_TTL_SECONDS = 8 * 24 * 3600  # longer than the 24 h stream retention


def next_counter(name: str) -> int:
    item = LedgerModel(pk="counter", sk=name)
    item.update(actions=[LedgerModel.value.add(1)])
    return int(item.value)


def marker_item(project_id: str, marker: str) -> LedgerModel:
    return LedgerModel(pk=f"p#{project_id}", sk=marker, expires_at=int(time.time()) + MARKER_TTL_SECONDS)


def count_completion_once(project_id: str, marker: str, delta: int) -> bool:
    """Add `delta` to the project's completion count unless `marker` was already counted.

    One transaction: the marker is put only if absent, and the counter moves only with it.
    Returns False when the marker existed (a redelivered record).
    """
    def write():
        with TransactWrite(connection=connection()) as tx:
            tx.save(marker_item(project_id, marker), condition=LedgerModel.sk.does_not_exist())
            tx.update(ProjectModel(project_id=project_id), actions=[ProjectModel.completions_count.add(delta)],
                      condition=ProjectModel.project_id.exists())

    return conditional(write)


def marker_exists(project_id: str, marker: str) -> bool:
    try:
        LedgerModel.get(f"p#{project_id}", marker, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def put_marker(project_id: str, marker: str) -> None:
    """Record that `marker`'s work is done (idempotent; expires like the stream's markers)."""
    marker_item(project_id, marker).save()
