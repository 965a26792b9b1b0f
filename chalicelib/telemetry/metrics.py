"""Metrics in CloudWatch's embedded metric format (EMF): one JSON log line per event, which
CloudWatch Logs turns into metrics; no PutMetricData call, nothing on the hot path but a log line.

Namespace `activelabel`; every metric has the dimension set `[Stack]` (the deployment's stack name,
ACTIVELABEL_STACK: one time series per metric and deployment, what the alarms and the dashboard
read). Per-project series are bounded by an allow-list: a project gets the extra dimension set
`[Stack, Project]` only when its id
is in ACTIVELABEL_METRIC_PROJECTS (comma-separated, at most MAX_PROJECT_SERIES ids; the template's
MetricProjects parameter). Every line also carries `project_id` as a plain property (not a
dimension: no time series, no cost), so Logs Insights groups any project's metric lines.
"""
import logging
import os
import time

from chalicelib import config
from chalicelib.telemetry import context
from chalicelib.telemetry.logs import EMF_ATTR

NAMESPACE = "activelabel"
MAX_PROJECT_SERIES = 20
# Every metric the code emits, with its unit (the template's alarms and dashboard name them too).
UNITS = {
    "Completions": "Count",  # a completion counted by the stream (once per completion, any source)
    "TrainingsStarted": "Count",
    "TrainingsSucceeded": "Count",  # trained and judged: promoted, kept, held or forwarded
    "TrainingsFailed": "Count",  # bad data (finished as failed) or an error SQS redelivers
    "TrainingsRejected": "Count",  # trained, then rejected by promotion (worse than the active model)
    "TrainingSeconds": "Seconds",
    "TasksRescored": "Count",
    "TasksPreannotated": "Count",
    "AutoLabelsApplied": "Count",
    "AutoLabelsWithdrawn": "Count",
    "AuditAccuracy": "None",  # share of audited auto labels the annotator confirmed (0..1)
    "PredictionsServed": "Count",
    "PredictionLatency": "Milliseconds",
    "LabelStudioPushes": "Count",
    "LabelStudioRefusals": "Count",  # Label Studio refused or failed a push or a pull
}
_log = logging.getLogger("activelabel.metrics")


def stack() -> str:
    """The deployment the metrics belong to (the template sets ACTIVELABEL_STACK to its stack name;
    the default is the name `make deploy` and the local stack give it)."""
    return os.environ.get("ACTIVELABEL_STACK") or f"activelabel-{config.stage()}"


def project_series() -> frozenset:
    raw = os.environ.get("ACTIVELABEL_METRIC_PROJECTS") or ""
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    return frozenset(ids[:MAX_PROJECT_SERIES])


def document(values: dict, project_id: str | None = None, now: float | None = None) -> dict:
    """The EMF document of `values` ({metric name: number}); raises ValueError on an unknown name."""
    unknown = set(values) - set(UNITS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; add them to telemetry.metrics.UNITS")
    dimensions = [["Stack"]]
    doc = {"Stack": stack()}
    if project_id is not None:
        doc["project_id"] = project_id
        if project_id in project_series():
            dimensions.append(["Stack", "Project"])
            doc["Project"] = project_id
    doc["_aws"] = {
        "Timestamp": int((time.time() if now is None else now) * 1000),
        "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": dimensions,
                               "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in values]}],
    }
    doc.update({name: float(value) for name, value in values.items()})
    return doc


def predictions_served(count: int, started: float, project_id: str | None, model_version, source: str) -> None:
    """The metric line of one prediction request: how many predictions, and its latency since
    `started` (time.monotonic())."""
    emit({"PredictionsServed": count, "PredictionLatency": (time.monotonic() - started) * 1000},
         project_id, model_version=model_version, source=source)


def emit(values: dict, project_id: str | None = None, **properties) -> None:
    """Log one metric line: `values` ({name: number}) for `project_id` (default: the bound one).
    `properties` are searchable fields of the line, not dimensions. A failure to emit never fails
    the caller's work."""
    if not values:
        return
    project_id = project_id if project_id is not None else context.current().get("project_id")
    try:
        doc = document(values, project_id)
    except ValueError:
        _log.exception("bad metric line %s", sorted(values))
        return
    _log.info("metric %s", " ".join(f"{name}={value}" for name, value in values.items()),
              extra={EMF_ATTR: doc, **properties})
