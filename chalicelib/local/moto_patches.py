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
"""
from __future__ import annotations

import bisect
import copy
import threading
from typing import Any

PINNED_MOTO_VERSION = "5.2.5"

_applied = False


class UnsupportedMotoVersion(RuntimeError):
    pass


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's `DynamoDBBackend.transact_write_items` with an item-level rollback."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(transact_items) > 100:
        raise TooManyTransactionsException()

    # (table name, hash, range) -> the item before the transaction (a copy) or None
    backups: dict[tuple[str, Any, Any], Any] = {}
    stream_lengths: dict[str, int] = {}  # table name -> its stream shard's length before

    def back_up(table_name: str, key: dict[str, Any]) -> None:
        table = self.tables.get(table_name)
        if table is None or table.hash_key_attr not in key:
            return  # the operation fails before writing anything
        if table_name not in stream_lengths and table.stream_shard is not None:
            stream_lengths[table_name] = len(table.stream_shard.items)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = (DynamoType(key[table.range_key_attr])
                       if table.range_key_attr is not None and table.range_key_attr in key
                       else None)
        if table.range_key_attr is not None and range_value is None:
            return
        ident = (table_name, hash_value, range_value)
        if ident not in backups:
            current = table.get_item(hash_value, range_value)
            backups[ident] = copy.deepcopy(current) if current is not None else None

    def roll_back() -> None:
        for (table_name, hash_value, range_value), item in backups.items():
            table = self.tables.get(table_name)
            if table is None:
                continue
            _forget_partition(table, hash_value)
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            else:
                if item is None:
                    bucket = table.items.get(hash_value)
                    if bucket is not None:
                        bucket.pop(range_value, None)
                        if not bucket:
                            table.items.pop(hash_value, None)
                else:
                    table.items[hash_value][range_value] = item
            _reindex(table, hash_value, range_value)
        for table_name, length in stream_lengths.items():
            table = self.tables.get(table_name)
            if table is not None and table.stream_shard is not None:
                del table.stream_shard.items[length:]

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get(
                "ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)
            if op_type != "ConditionCheck":
                back_up(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names,
                    expression_attribute_values)
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                self.put_item(table_name, op["Item"],
                              condition_expression=condition_expression,
                              expression_attribute_names=expression_attribute_names,
                              expression_attribute_values=expression_attribute_values)
            elif op_type == "Delete":
                self.delete_item(table_name, key,
                                 condition_expression=condition_expression,
                                 expression_attribute_names=expression_attribute_names,
                                 expression_attribute_values=expression_attribute_values)
            elif op_type == "Update":
                self.update_item(table_name, key,
                                 update_expression=op["UpdateExpression"],
                                 condition_expression=condition_expression,
                                 expression_attribute_names=expression_attribute_names,
                                 expression_attribute_values=expression_attribute_values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            roll_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - moto reports any failure per operation
            errors.append((type(e).__name__, str(e), original_item))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        roll_back()
        raise TransactionCanceledException(errors)


def check_version() -> None:
    import moto

    if moto.__version__ != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"chalicelib/local/moto_patches.py was written for moto {PINNED_MOTO_VERSION}, "
            f"not {moto.__version__}: check whether moto's DynamoDB transact_write_items still "
            "deep-copies whole tables (docs/local-stack.md), then update or drop the patch")


# --------------------------------------------------------------------------- partition queries

_query_scope = threading.local()  # .table, .items: what all_items() returns inside a query


def _sorted_keys(table: Any, hash_value: Any) -> list:
    """The sort keys of one partition, in order (built on first use, then kept up to date)."""
    index = table.__dict__.setdefault("_activelabel_sorted", {})
    partition = table.items.get(hash_value) or {}
    keys = index.get(hash_value)
    if keys is None or len(keys) != len(partition):
        keys = index[hash_value] = sorted(partition)
    return keys


def _forget_partition(table: Any, hash_value: Any) -> None:
    table.__dict__.get("_activelabel_sorted", {}).pop(hash_value, None)


_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}  # as moto passes them


def _key_range(keys: list, comparison: str | None, objs: list) -> tuple[int, int]:
    """Positions [lo, hi) of the sort keys that can satisfy the key condition."""
    n = len(keys)
    try:
        if comparison is None:
            return 0, n
        if any(o.type != keys[0].type for o in objs) if keys else False:
            return 0, n
        comparison = _OPERATORS.get(comparison, comparison)
        if comparison == "EQ":
            return bisect.bisect_left(keys, objs[0]), bisect.bisect_right(keys, objs[0])
        if comparison == "LT":
            return 0, bisect.bisect_left(keys, objs[0])
        if comparison == "LE":
            return 0, bisect.bisect_right(keys, objs[0])
        if comparison == "GT":
            return bisect.bisect_right(keys, objs[0]), n
        if comparison == "GE":
            return bisect.bisect_left(keys, objs[0]), n
        if comparison == "BETWEEN":
            return bisect.bisect_left(keys, objs[0]), bisect.bisect_right(keys, objs[1])
        if comparison == "BEGINS_WITH" and objs[0].type == "S":
            prefix = objs[0].value
            lo = hi = bisect.bisect_left(keys, objs[0])
            while hi < n and keys[hi].value.startswith(prefix):
                hi += 1
            return lo, hi
    except (IndexError, TypeError, AttributeError):
        pass
    return 0, n


class _IndexMap:
    """One index's partitions: index hash value -> entries (index range value, table hash,
    table range) in order, with their range values alongside for bisection."""

    def __init__(self, hash_attr: str, range_attr: str | None):
        self.hash_attr = hash_attr
        self.range_attr = range_attr
        self.parts: dict[Any, tuple[list, list]] = {}
        self.where: dict[tuple, tuple] = {}  # (table hash, table range) -> (index hash, entry)

    def remove(self, key: tuple) -> None:
        old = self.where.pop(key, None)
        if old is None:
            return
        hash_value, entry = old
        ranges, entries = self.parts[hash_value]
        i = bisect.bisect_left(entries, entry)
        if i < len(entries) and entries[i] == entry:
            del entries[i]
            del ranges[i]
        if not entries:
            del self.parts[hash_value]

    def add(self, item: Any) -> None:
        key = (item.hash_key, item.range_key)
        self.remove(key)
        hash_value = item.attrs.get(self.hash_attr)
        if hash_value is None:
            return
        range_value = None
        if self.range_attr is not None:
            range_value = item.attrs.get(self.range_attr)
            if range_value is None:
                return  # not in the index (moto's query skips it too)
        entry = (range_value, item.hash_key, item.range_key)
        ranges, entries = self.parts.setdefault(hash_value, ([], []))
        i = bisect.bisect_left(entries, entry)
        entries.insert(i, entry)
        ranges.insert(i, range_value)
        self.where[key] = (hash_value, entry)


def _index_map(table: Any, index_name: str) -> _IndexMap | None:
    maps = table.__dict__.setdefault("_activelabel_indexes", {})
    if index_name in maps:
        return maps[index_name]
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    if index is None:
        return None
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    if len(hashes) != 1 or len(ranges) > 1:
        return None
    built = _IndexMap(hashes[0], ranges[0] if ranges else None)
    try:
        for item in _ORIGINAL["all_items"](table):
            built.add(item)
    except TypeError:  # key values of mixed types: not ordered, moto's own query reads all
        return None
    maps[index_name] = built
    return built


def _reindex(table: Any, hash_value: Any, range_value: Any) -> None:
    """An item changed (or went): bring every built index map up to date."""
    maps = table.__dict__.get("_activelabel_indexes")
    if not maps:
        return
    try:
        item = table.get_item(hash_value, range_value)
    except Exception:  # noqa: BLE001 - a malformed key: nothing was written
        return
    for name, index_map in list(maps.items()):
        try:
            if item is None:
                index_map.remove((hash_value, range_value))
            else:
                index_map.add(item)
        except TypeError:  # a key value of another type: drop the map (rebuilt, or moto's own)
            maps.pop(name, None)


def _forget_indexes(table: Any) -> None:
    table.__dict__.pop("_activelabel_indexes", None)


_ORIGINAL: dict[str, Any] = {}


def _index_candidates(table: Any, index_name: str, hash_key: Any, range_comparison: Any,
                      range_objs: Any, kwargs: dict) -> list | None:
    """The items an index query can match plus one neighbour each side, or None (moto's own)."""
    hash_conditions = kwargs.get("hash_key_conditions") or []
    range_conditions = kwargs.get("range_key_conditions") or []
    index_map = _index_map(table, index_name)
    if (index_map is None or hash_key is None or len(hash_conditions) > 1
            or any(name != index_map.hash_attr for name, _ in hash_conditions)
            or len(range_conditions) > 1
            or any(name != index_map.range_attr for name, _, _ in range_conditions)):
        return None
    ranges, entries = index_map.parts.get(hash_key, ([], []))
    lo, hi = (_key_range(ranges, range_comparison, list(range_objs or []))
              if index_map.range_attr is not None else (0, len(entries)))
    lo, hi = max(lo - 1, 0), min(hi + 1, len(entries))
    items = [table.get_item(h, r) for _, h, r in entries[lo:hi]]
    return [i for i in items if i is not None]


def _make_query(original: Any) -> Any:
    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, *args: Any,
              **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name") if len(args) < 5 else args[4]
        if index_name:
            candidates = _index_candidates(self, index_name, hash_key, range_comparison,
                                           range_objs, kwargs)
            if candidates is None:
                return original(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        elif (hash_key is None or self.range_key_attr is None
                or any(name != self.range_key_attr
                       for name, _, _ in kwargs.get("range_key_conditions") or [])):
            return original(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        else:
            partition = self.items.get(hash_key) or {}
            keys = _sorted_keys(self, hash_key)
            lo, hi = _key_range(keys, range_comparison, list(range_objs or []))
            # One non-matching neighbour on each side: moto answers a page that fills its Limit
            # with a LastEvaluatedKey only when another candidate follows, and so must this.
            lo, hi = max(lo - 1, 0), min(hi + 1, len(keys))
            candidates = [partition[k] for k in keys[lo:hi]]
        _query_scope.table = self
        _query_scope.items = candidates
        try:
            return original(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        finally:
            _query_scope.table = _query_scope.items = None

    query._activelabel_patch = True  # type: ignore[attr-defined]
    return query


def _make_all_items(original: Any) -> Any:
    def all_items(self: Any) -> Any:
        if getattr(_query_scope, "table", None) is self:
            return _query_scope.items
        return original(self)

    all_items._activelabel_patch = True  # type: ignore[attr-defined]
    return all_items


def _make_put_item(original: Any) -> Any:
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original(self, *args, **kwargs)
        keys = self.__dict__.get("_activelabel_sorted", {}).get(item.hash_key)
        if keys is not None and item.range_key is not None:
            i = bisect.bisect_left(keys, item.range_key)
            if i == len(keys) or keys[i] != item.range_key:
                keys.insert(i, item.range_key)
        _reindex(self, item.hash_key, item.range_key)
        return item

    put_item._activelabel_patch = True  # type: ignore[attr-defined]
    return put_item


def _make_delete_item(original: Any) -> Any:
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original(self, hash_key, range_key)
        keys = self.__dict__.get("_activelabel_sorted", {}).get(hash_key)
        if item is not None and keys is not None and range_key is not None:
            i = bisect.bisect_left(keys, range_key)
            if i < len(keys) and keys[i] == range_key:
                del keys[i]
        if item is not None:
            _reindex(self, hash_key, range_key)
        return item

    delete_item._activelabel_patch = True  # type: ignore[attr-defined]
    return delete_item


def _make_update_item(original: Any) -> Any:
    """The backend's update_item changes the item in place: re-index it afterwards."""
    def update_item(self: Any, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        try:
            return original(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None and table.__dict__.get("_activelabel_indexes"):
                try:
                    hash_value = DynamoType(key[table.hash_key_attr])
                    range_value = (DynamoType(key[table.range_key_attr])
                                   if table.range_key_attr else None)
                except (KeyError, TypeError):
                    pass
                else:
                    _reindex(table, hash_value, range_value)

    update_item._activelabel_patch = True  # type: ignore[attr-defined]
    return update_item


def _make_statement(original: Any) -> Any:
    """PartiQL changes items without naming them here: forget every index map."""
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        finally:
            for table in self.tables.values():
                _forget_indexes(table)

    run._activelabel_patch = True  # type: ignore[attr-defined]
    return run


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
