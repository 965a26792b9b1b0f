"""What the log lines of the current invocation say about where they come from.

One context variable holds the fields (correlation id, Lambda request id, function, project, task,
job, model version); `bind` sets some for the length of a `with` block, `annotate` adds some until
the enclosing `bind` ends. Context variables are per thread (and per asyncio task), so the local
stack's concurrent requests and its event pump never see each other's fields.
"""
import contextlib
import contextvars
import re
import uuid

FIELDS = ("correlation_id", "request_id", "function", "project_id", "task_id", "job_id", "model_version")
_CORRELATION = re.compile(r"^[A-Za-z0-9._:@-]{1,100}$")
_fields: contextvars.ContextVar[dict] = contextvars.ContextVar("activelabel_log_fields", default={})


def current() -> dict:
    """The bound fields (a copy), without the unset ones."""
    return dict(_fields.get())


def correlation_id() -> str | None:
    return _fields.get().get("correlation_id")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def valid_correlation_id(value) -> str | None:
    """`value` if it can serve as a correlation id (a short token: letters, digits, `._:@-`), else None:
    a header or a message field from elsewhere never puts arbitrary text into our log lines."""
    return value if isinstance(value, str) and _CORRELATION.match(value) else None


def _merged(fields: dict) -> dict:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields {sorted(unknown)}; known: {FIELDS}")
    merged = dict(_fields.get())
    merged.update({key: value for key, value in fields.items() if value is not None})
    return merged


@contextlib.contextmanager
def bind(**fields):
    """Set `fields` (None values are ignored) for the block; the previous fields come back after it."""
    token = _fields.set(_merged(fields))
    try:
        yield
    finally:
        _fields.reset(token)


def annotate(**fields) -> None:
    """Add `fields` to the current context (until the enclosing `bind` ends)."""
    _fields.set(_merged(fields))
