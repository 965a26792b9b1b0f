"""What every DynamoDB module of the store shares: the clock, the transactions connection, the one
helper for conditional writes, and list cursors."""
import base64
import json
import os
from datetime import datetime, timezone
from typing import Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException

from chalicelib import config
from chalicelib.errors import ValidationError


def now() -> datetime:
    return datetime.now(timezone.utc)


_connections: dict = {}


def connection() -> Connection:
    """A PynamoDB connection for transactions, cached per warm container (and per endpoint,
    so tests that restart moto get a fresh one): creating a botocore client costs ~100 ms."""
    key = (config.region(), os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"))
    if key not in _connections:
        _connections.clear()
        _connections[key] = Connection(region=config.region())
    return _connections[key]


def is_conditional_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    if cause == "ConditionalCheckFailedException":
        return True
    if cause == "TransactionCanceledException":
        reasons = getattr(exc, "cancellation_reasons", None) or []
        return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)
    return False


def conditional(write: Callable[[], object]) -> bool:
    """Run one conditional write (or transaction): True if it happened, False if its condition
    failed; any other error is raised. Every write that must happen once goes through here."""
    try:
        write()
    except PynamoDBException as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def encode_cursor(last_key: dict | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    if not isinstance(value, dict):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    return value


def page(result_iterator, limit: int, convert=lambda item: item):
    """(the items, converted; the cursor of the next page or None)."""
    items = [convert(item) for item in result_iterator]
    return items, encode_cursor(result_iterator.last_evaluated_key) if len(items) >= limit else None
