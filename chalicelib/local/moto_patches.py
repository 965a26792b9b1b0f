"""Three patches to moto 5.2.5 that the local stack applies (never deployed).

1. Transactions copy their items, not their tables.

`DynamoDBBackend.transact_write_items` in moto 5.2.5 deep-copies every table a transaction names
before running it, and puts the copies back when it fails. Each transaction then costs the size of
its tables in time and memory, and a failed one replaces the table objects, so a stream shard
iterator taken before it reads a stale shard. The patched version keeps the same checks, order and
errors, but backs up only the items the transaction touches (and the length of each stream shard)
and restores those on failure: the tables stay the same objects and a transaction costs its items.

2. No registry of every model object. moto's `BaseModel.__new__` appends every instance it makes
(each DynamoDB item, stream record, shard iterator, S3 key, SQS message, and each *copy* of
them, since `copy.deepcopy` goes through `__new__`) to a class-level list that only moto's
debugging dashboard and its test-reset read: in a long-running server that list keeps every object
ever made alive. The patched `__new__` makes the object without listing it.

3. A query reads its partition, not the table. moto's `Table.query` on a table's own key walks
every item of the table, keeps those of the partition, sorts them and then applies the sort-key
condition: each query costs the table. The patch keeps, per partition, its sort keys in order
(updated by `put_item` and `delete_item`) and hands `query` only the items the key condition can
match (found by bisection), so a query costs its partition's matching items. Index queries
(GSI/LSI with one hash and at most one range attribute) likewise get the items of the index
partition whose index sort key can match, from a per-index map kept up to date by every write
(put, delete, update, a transaction's rollback; PartiQL statements drop the maps, which are
rebuilt on the next query). moto's own code still applies every condition, limit, page and
projection to the items it is given.

The patches are pinned: `apply()` refuses any moto other than `PINNED_MOTO_VERSION`, so an upgrade
fails loudly instead of patching code it was not written for. docs/local-stack.md says how to drop
them (when moto no longer copies whole tables or tracks every instance).

Patch 1 is in moto_transactions.py, patch 3 in moto_queries.py; patch 2 and `apply()`, which
applies all three, are here.
"""
from __future__ import annotations

from typing import Any

from chalicelib.local.moto_queries import (
    _ORIGINAL, _make_all_items, _make_delete_item, _make_put_item, _make_query, _make_statement,
    _make_update_item)
from chalicelib.local.moto_transactions import _transact_write_items

PINNED_MOTO_VERSION = "5.2.5"

_applied = False


class UnsupportedMotoVersion(RuntimeError):
    pass


def check_version() -> None:
    import moto

    if moto.__version__ != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"chalicelib/local/moto_patches.py was written for moto {PINNED_MOTO_VERSION}, "
            f"not {moto.__version__}: check whether moto's DynamoDB transact_write_items still "
            "deep-copies whole tables (docs/local-stack.md), then update or drop the patch")


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`BaseModel.__new__` without appending the instance to `cls.instances_tracked`."""
    return object.__new__(cls)


def apply() -> None:
    """Apply both patches (idempotent; refuses a moto other than the pinned version)."""
    global _applied
    if _applied:
        return
    check_version()
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    BaseModel.__new__ = _untracked_new  # type: ignore[method-assign,assignment]
    _ORIGINAL["all_items"] = Table.all_items
    Table.query = _make_query(Table.query)  # type: ignore[method-assign]
    Table.all_items = _make_all_items(Table.all_items)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _make_update_item(  # type: ignore[method-assign]
        DynamoDBBackend.update_item)
    for name in ("execute_statement", "execute_transaction", "batch_execute_statement"):
        setattr(DynamoDBBackend, name, _make_statement(getattr(DynamoDBBackend, name)))
    Table.put_item = _make_put_item(Table.put_item)  # type: ignore[method-assign]
    Table.delete_item = _make_delete_item(Table.delete_item)  # type: ignore[method-assign]
    _applied = True


def is_applied() -> bool:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    return (DynamoDBBackend.transact_write_items is _transact_write_items
            and BaseModel.__dict__["__new__"] is _untracked_new
            and all(getattr(getattr(Table, name), "_activelabel_patch", False)
                    for name in ("query", "all_items", "put_item", "delete_item"))
            and getattr(DynamoDBBackend.update_item, "_activelabel_patch", False))
