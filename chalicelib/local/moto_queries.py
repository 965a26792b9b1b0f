"""The query patch to moto 5.2.5 (patch 3 of chalicelib.local.moto_patches, which applies it).

A query reads its partition, not the table: per partition, its sort keys in order (updated by
`put_item` and `delete_item`), and per index, a map kept up to date by every write; `query` gets
only the items the key condition can match (found by bisection).
"""
from __future__ import annotations

import bisect
import threading
from typing import Any

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
