"""An import's record, by the client's `Idempotency-Key`: what the import is (its body's sha256, the
task ids it reserved, how its random keys are drawn), whether it finished, and which request is
writing it now (a lease, renewed while it writes).

Kept in the ledger table (pk "p#<project>", sk "import#<key>") and expired by its TTL after
RETENTION_SECONDS; an expired record is treated as absent (DynamoDB deletes it up to days later).
"""
import time

from pynamodb.exceptions import DoesNotExist

from chalicelib.store.dynamo import conditional
from chalicelib.store.models import LedgerModel

RETENTION_SECONDS = 24 * 3600
LEASE_SECONDS = 20  # a writer renews its lease at least every LEASE_SECONDS / 2 while it writes


def _keys(project_id: str, key: str) -> tuple[str, str]:
    return f"p#{project_id}", f"import#{key}"


def _live(item: LedgerModel) -> dict | None:
    if item.record is None or int(item.expires_at or 0) <= time.time():
        return None
    return {**item.record, "lease_owner": item.lease_owner, "lease_until": int(item.lease_until or 0)}


def get(project_id: str, key: str) -> dict | None:
    """The import's record (with `lease_owner`, `lease_until`), or None (never made, or expired)."""
    try:
        return _live(LedgerModel.get(*_keys(project_id, key), consistent_read=True))
    except DoesNotExist:
        return None


def begin(project_id: str, key: str, record: dict, owner: str) -> bool:
    """Create the record, leased to `owner`, unless a live one exists (then False)."""
    now = int(time.time())
    item = LedgerModel(*_keys(project_id, key), record={**record, "state": "importing", "created_at": now},
                       expires_at=now + RETENTION_SECONDS, lease_owner=owner, lease_until=now + LEASE_SECONDS)
    return conditional(lambda: item.save(condition=LedgerModel.sk.does_not_exist() | (LedgerModel.expires_at < now)))


def take_lease(project_id: str, key: str, owner: str) -> bool:
    """Lease an unfinished import to `owner` (to finish it) unless another request holds the lease."""
    now = int(time.time())
    condition = LedgerModel.sk.exists() & (LedgerModel.expires_at > now) & (LedgerModel.lease_until < now)
    return conditional(lambda: LedgerModel(*_keys(project_id, key)).update(
        actions=[LedgerModel.lease_owner.set(owner), LedgerModel.lease_until.set(now + LEASE_SECONDS)],
        condition=condition))


def renew(project_id: str, key: str, owner: str, seconds: int = LEASE_SECONDS) -> bool:
    """Extend `owner`'s lease by `seconds` from now (negative: give it up); False when another request took it."""
    return conditional(lambda: LedgerModel(*_keys(project_id, key)).update(
        actions=[LedgerModel.lease_until.set(int(time.time()) + seconds)],
        condition=LedgerModel.lease_owner == owner))


def finish(project_id: str, key: str, owner: str, record: dict) -> bool:
    """Mark the import done (with `record`'s result); False when another request took the lease."""
    return conditional(lambda: LedgerModel(*_keys(project_id, key)).update(
        actions=[LedgerModel.record.set({**record, "state": "done", "finished_at": int(time.time())}),
                 LedgerModel.lease_until.set(0)],
        condition=LedgerModel.lease_owner == owner))
