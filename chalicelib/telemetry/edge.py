"""What the edges (api/http.py, events/*) bind for each request, record or message they handle, and
what a sender copies into the messages it queues (`carried`)."""
import contextlib
import json

from chalicelib.telemetry import context

HEADER = "X-Correlation-Id"
MESSAGE_KEY = "correlation_id"  # in queue message bodies and on completion items


def _request_id(lambda_context) -> str | None:
    return getattr(lambda_context, "aws_request_id", None)


def _function(lambda_context, default: str | None) -> str | None:
    return getattr(lambda_context, "function_name", None) or default


def correlation_from_headers(headers) -> str:
    """The caller's `X-Correlation-Id` when it is a sane token, else a new id."""
    headers = headers or {}
    given = headers.get(HEADER.lower()) or headers.get(HEADER)
    return context.valid_correlation_id(given) or context.new_correlation_id()


@contextlib.contextmanager
def http_request(headers, lambda_context, project_id: str | None = None):
    with context.bind(correlation_id=correlation_from_headers(headers), request_id=_request_id(lambda_context),
                      function=_function(lambda_context, "api_handler"), project_id=project_id):
        yield context.correlation_id()


@contextlib.contextmanager
def invocation(lambda_context, function: str):
    """One Lambda invocation of an event handler (a batch): the request id and the function."""
    with context.bind(request_id=_request_id(lambda_context), function=_function(lambda_context, function)):
        yield


@contextlib.contextmanager
def record(correlation_id: str | None, **fields):
    """One record or message of a batch: its correlation id (a new one when it carries none)."""
    cid = context.valid_correlation_id(correlation_id) or context.new_correlation_id()
    with context.bind(correlation_id=cid, **fields):
        yield cid


def from_message(body: str) -> str | None:
    """The correlation id a queue message carries (None for a message without one or not JSON)."""
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        return None
    return context.valid_correlation_id(message.get(MESSAGE_KEY)) if isinstance(message, dict) else None


def carried() -> dict:
    """`{"correlation_id": <the bound one>}` for a message being sent (empty when none is bound)."""
    cid = context.correlation_id()
    return {MESSAGE_KEY: cid} if cid else {}
