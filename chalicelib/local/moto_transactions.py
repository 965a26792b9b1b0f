"""The transaction patch to moto 5.2.5 (patch 1 of chalicelib.local.moto_patches, which applies it).

Transactions copy their items, not their tables: the items a transaction touches (and the length of
each stream shard) are backed up, and restored if it fails.
"""
from __future__ import annotations

import copy
from typing import Any

from chalicelib.local.moto_queries import _forget_partition, _reindex


class _ItemBackup:
    """The items a transaction writes, as they were before it, to put back if it fails."""

    def __init__(self, backend: Any):
        self.backend = backend
        # (table name, hash, range) -> the item before the transaction (a copy) or None
        self.backups: dict[tuple[str, Any, Any], Any] = {}
        self.stream_lengths: dict[str, int] = {}  # table name -> its stream shard's length before

    def back_up(self, table_name: str, key: dict[str, Any]) -> None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.backend.tables.get(table_name)
        if table is None or table.hash_key_attr not in key:
            return  # the operation fails before writing anything
        if table_name not in self.stream_lengths and table.stream_shard is not None:
            self.stream_lengths[table_name] = len(table.stream_shard.items)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = (DynamoType(key[table.range_key_attr])
                       if table.range_key_attr is not None and table.range_key_attr in key
                       else None)
        if table.range_key_attr is not None and range_value is None:
            return
        ident = (table_name, hash_value, range_value)
        if ident not in self.backups:
            current = table.get_item(hash_value, range_value)
            self.backups[ident] = copy.deepcopy(current) if current is not None else None

    def roll_back(self) -> None:
        for (table_name, hash_value, range_value), item in self.backups.items():
            table = self.backend.tables.get(table_name)
            if table is None:
                continue
            _forget_partition(table, hash_value)
            _put_back(table, hash_value, range_value, item)
            _reindex(table, hash_value, range_value)
        for table_name, length in self.stream_lengths.items():
            table = self.backend.tables.get(table_name)
            if table is not None and table.stream_shard is not None:
                del table.stream_shard.items[length:]


def _put_back(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Make `table` hold `item` (None: no item) under its key, as before the transaction."""
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


def _operation_key(backend: Any, op_type: str, op: dict[str, Any], table_name: str
                   ) -> dict[str, Any]:
    if op_type == "Put":
        attrs = op["Item"]
        table = backend.get_table(table_name)
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return key
    return op["Key"]


def _check_condition(backend: Any, op: dict[str, Any], table_name: str, key: dict[str, Any]
                     ) -> None:
    """Raise ConditionalCheckFailed (with the item when ALL_OLD is asked) if the condition fails."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed
    from moto.dynamodb.models import get_filter_expression

    condition_expression = op.get("ConditionExpression")
    current = backend.get_item(table_name, key)
    if condition_expression is not None:
        condition_op = get_filter_expression(
            condition_expression, op.get("ExpressionAttributeNames"),
            op.get("ExpressionAttributeValues"))
        if not condition_op.expr(current):
            original_item = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                original_item = current.to_json()["Attributes"]
            error = ConditionalCheckFailed(item=original_item)
            # moto's exception does not keep the item: the cancellation reason reports it
            error.activelabel_item = original_item  # type: ignore[attr-defined]
            raise error


def _write(backend: Any, op_type: str, op: dict[str, Any], table_name: str,
           key: dict[str, Any]) -> None:
    condition = dict(condition_expression=op.get("ConditionExpression"),
                     expression_attribute_names=op.get("ExpressionAttributeNames"),
                     expression_attribute_values=op.get("ExpressionAttributeValues"))
    if op_type == "Put":
        backend.put_item(table_name, op["Item"], **condition)
    elif op_type == "Delete":
        backend.delete_item(table_name, key, **condition)
    elif op_type == "Update":
        backend.update_item(table_name, key, update_expression=op["UpdateExpression"],
                            **condition)


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

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    backup = _ItemBackup(self)
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            key = _operation_key(self, op_type, op, table_name)
            check_unicity(table_name, key)
            if op_type != "ConditionCheck":
                backup.back_up(table_name, key)
            _check_condition(self, op, table_name, key)
            _write(self, op_type, op, table_name, key)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            backup.roll_back()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message),  # type: ignore[arg-type]
                           getattr(e, "activelabel_item", None)))
        except Exception as e:  # noqa: BLE001 - moto reports any failure per operation
            errors.append((type(e).__name__, str(e), None))  # type: ignore[arg-type]

    if any(code is not None for code, _, _ in errors):
        backup.roll_back()
        raise TransactionCanceledException(errors)
