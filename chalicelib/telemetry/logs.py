"""JSON log lines over the standard library's logging (every module keeps `logging.getLogger`).

A line is one JSON object: `timestamp` (UTC, ISO 8601, ms), `level`, `logger`, `message`,
`service`, the bound context (context.py: `correlation_id`, `request_id`, `function`, `project_id`,
`task_id`, `job_id`, `model_version`), any `extra={...}` keys of the call, and `exception` (the
formatted traceback) when there is one. The key names are those of Powertools for AWS Lambda's
Logger where they overlap (`level`, `message`, `timestamp`, `service`, `correlation_id`), so the
queries of docs/operations.md read either. A metric line (metrics.py) is the same object with its
embedded-metric-format document merged into it.

`configure` installs the handler: in Lambda on the `activelabel` logger (stdout, which CloudWatch
Logs keeps one line per event); on the local stack on the root logger, as JSON when the output is
not a terminal and as a readable line when it is.
"""
import datetime
import json
import logging
import os
import sys

from chalicelib.telemetry import context

SERVICE = "activelabel"
# Attributes every LogRecord has: anything else on a record came from `extra=` and is logged.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}
EMF_ATTR = "emf"  # the record attribute that carries a metric document (metrics.py)


def _timestamp(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def fields_of(record: logging.LogRecord) -> dict:
    """The record as the JSON object of its line (before the metric document is merged)."""
    line = {"timestamp": _timestamp(record.created), "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "service": SERVICE}
    line.update(getattr(record, "log_context", None) or context.current())
    for key, value in vars(record).items():
        if key not in _RECORD_ATTRS and key not in line and key not in ("log_context", EMF_ATTR):
            line[key] = value
    if record.exc_info:
        line["exception"] = logging.Formatter().formatException(record.exc_info)
        line["exception_name"] = record.exc_info[0].__name__ if record.exc_info[0] else None
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = fields_of(record)
        emf = getattr(record, EMF_ATTR, None)
        if emf:
            line.update(emf)  # the document's `_aws` and values at the root, as CloudWatch reads them
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a person at a terminal: time, level, logger, message, then the context as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = fields_of(record)
        head = f"{line['timestamp'][11:23]} {line['level']:<7} {line['logger']}: {line['message']}"
        skip = {"timestamp", "level", "logger", "message", "service", "exception", "exception_name"}
        tail = " ".join(f"{key}={value}" for key, value in line.items() if key not in skip)
        text = f"{head}  [{tail}]" if tail else head
        return f"{text}\n{line['exception']}" if "exception" in line else text


class _KeepContext(logging.Filter):
    """Copies the bound context onto the record when it is made: a handler that formats later (or on
    another thread) still sees the fields of the code that logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "log_context"):
            record.log_context = context.current()
        return True


def level_from_env(default: str = "INFO") -> int:
    name = (os.environ.get("ACTIVELABEL_LOG_LEVEL") or default).upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def handler(stream=None, json_lines: bool | None = None) -> logging.Handler:
    """A stream handler with our formatter: JSON unless `json_lines` is False (None: JSON unless the
    stream is a terminal)."""
    stream = stream if stream is not None else sys.stdout
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    made = logging.StreamHandler(stream)
    made.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    made.addFilter(_KeepContext())
    made.set_name("activelabel-telemetry")
    return made


def configure(stream=None, json_lines: bool | None = None, root: bool = False) -> logging.Handler:
    """Install our handler once (on the root logger with `root`, else on `activelabel`, which then
    stops propagating) at ACTIVELABEL_LOG_LEVEL (INFO); metrics are logged at INFO whatever the level."""
    target = logging.getLogger() if root else logging.getLogger(SERVICE)
    for existing in list(target.handlers):
        if existing.get_name() == "activelabel-telemetry":
            target.removeHandler(existing)
    installed = handler(stream, json_lines)
    target.addHandler(installed)
    target.setLevel(level_from_env())
    if not root:
        target.propagate = False
    logging.getLogger(SERVICE).setLevel(level_from_env())
    logging.getLogger(f"{SERVICE}.metrics").setLevel(logging.INFO)
    return installed


def configure_for_lambda() -> bool:
    """In a deployed Lambda function (not the local stack), log JSON lines to stdout; True if it did."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("ACTIVELABEL_STAGE") == "local":
        return False
    configure(sys.stdout, json_lines=True)
    return True
