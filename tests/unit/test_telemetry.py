"""The shapes of our log and metric lines (chalicelib/telemetry): what CloudWatch Logs Insights
queries and the embedded metric format rely on."""
import io
import json
import logging
import threading

import pytest

from chalicelib.telemetry import context, edge, logs, metrics


@pytest.fixture
def lines(monkeypatch):
    """Configure logging into a buffer (JSON) for the test; returns a reader of the parsed lines."""
    buffer = io.StringIO()
    logger = logging.getLogger("activelabel")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logs.configure(buffer, json_lines=True)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.handlers[:], logger.level, logger.propagate = saved


def test_a_log_line_is_one_json_object_with_level_message_and_the_bound_context(lines):
    class Ctx:
        aws_request_id, function_name = "req-1", "activelabel-dev-train_worker"

    with edge.invocation(Ctx(), "train_worker"), edge.record("cid-1", project_id="p1"):
        context.annotate(job_id="training-3", model_version="v2")
        logging.getLogger("activelabel.test").info("trained %s", "v2", extra={"outcome": "promoted"})
    logging.getLogger("activelabel.test").warning("outside")
    first, second = lines()
    assert first["level"] == "INFO" and first["message"] == "trained v2" and first["outcome"] == "promoted"
    assert {k: first[k] for k in ("correlation_id", "request_id", "function", "project_id", "job_id",
                                  "model_version")} == {
        "correlation_id": "cid-1", "request_id": "req-1", "function": "activelabel-dev-train_worker",
        "project_id": "p1", "job_id": "training-3", "model_version": "v2"}
    assert first["timestamp"].endswith("Z") and first["service"] == "activelabel"
    assert "correlation_id" not in second and second["level"] == "WARNING"


def test_an_exception_is_in_the_line_not_on_lines_of_its_own(lines):
    try:
        raise KeyError("x")
    except KeyError:
        logging.getLogger("activelabel.test").exception("failed")
    (line,) = lines()
    assert line["exception_name"] == "KeyError" and "Traceback" in line["exception"]


def test_a_metric_line_is_a_valid_embedded_metric_format_document(lines, monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_STACK", "activelabel-prod")
    with edge.record("cid-2", project_id="p1"):
        metrics.emit({"TrainingsStarted": 1, "TrainingsFailed": 1, "TrainingSeconds": 2.5}, outcome="error")
    (line,) = lines()
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "activelabel" and directive["Dimensions"] == [["Stack"]]
    assert isinstance(line["_aws"]["Timestamp"], int)
    for metric in directive["Metrics"]:
        assert metric["Unit"] == metrics.UNITS[metric["Name"]]
        assert isinstance(line[metric["Name"]], float)  # each value at the root, under its name
    for dimension in {name for names in directive["Dimensions"] for name in names}:
        assert isinstance(line[dimension], str)
    assert line["Stack"] == "activelabel-prod" and line["project_id"] == "p1" and "Project" not in line
    assert line["correlation_id"] == "cid-2" and line["outcome"] == "error"


def test_per_project_series_only_for_the_allow_listed_projects(monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_METRIC_PROJECTS", "a, b," + ",".join(f"x{i}" for i in range(50)))
    listed = metrics.document({"Completions": 1}, "a")
    unlisted = metrics.document({"Completions": 1}, "zzz")
    assert listed["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stack"], ["Stack", "Project"]]
    assert listed["Project"] == "a"
    assert unlisted["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stack"]]
    assert len(metrics.project_series()) == metrics.MAX_PROJECT_SERIES


def test_an_unknown_metric_name_is_refused_and_never_fails_the_caller(lines):
    with pytest.raises(ValueError, match="Completion"):
        metrics.document({"Completion": 1})
    metrics.emit({"Completion": 1})
    (line,) = lines()
    assert line["level"] == "ERROR" and "_aws" not in line


def test_metrics_are_logged_even_when_the_log_level_is_warning(monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_LOG_LEVEL", "WARNING")
    buffer = io.StringIO()
    logger = logging.getLogger("activelabel")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        logs.configure(buffer, json_lines=True)
        logging.getLogger("activelabel.test").info("dropped")
        metrics.emit({"Completions": 1})
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert [json.loads(line)["Completions"] for line in buffer.getvalue().splitlines()] == [1.0]


def test_the_terminal_form_is_one_readable_line():
    record = logging.LogRecord("activelabel.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.log_context = {"correlation_id": "c1", "project_id": "p"}
    text = logs.TextFormatter().format(record)
    assert "\n" not in text and "INFO" in text and "hello you" in text and "correlation_id=c1" in text


def test_correlation_ids_from_outside_are_checked_and_carried_into_messages():
    assert edge.correlation_from_headers({"x-correlation-id": "abc-123"}) == "abc-123"
    minted = edge.correlation_from_headers({"X-Correlation-Id": "bad id\n{json}"})
    assert minted != "bad id\n{json}" and context.valid_correlation_id(minted)
    assert edge.carried() == {}
    with edge.record("abc-123"):
        assert edge.carried() == {"correlation_id": "abc-123"}
        assert edge.from_message(json.dumps({"seq": 1, **edge.carried()})) == "abc-123"
    assert edge.from_message("not json") is None and edge.from_message('{"correlation_id": "x y"}') is None


def test_threads_never_share_their_context():
    seen = {}

    def worker(name):
        with edge.record(name):
            threading.Event().wait(0.01)
            seen[name] = context.correlation_id()

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {f"t{i}": f"t{i}" for i in range(4)}


def test_every_emitted_metric_name_is_known():
    """Each `metrics.emit({...})` in chalicelib names metrics of UNITS (a typo would only log an error)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "chalicelib"
    names = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "emit" and node.args \
                    and isinstance(node.args[0], ast.Dict):
                names |= {key.value for key in node.args[0].keys if isinstance(key, ast.Constant)}
    assert names and names <= set(metrics.UNITS), names - set(metrics.UNITS)


def test_in_a_deployed_function_lines_go_to_stdout_as_json(monkeypatch, capsys):
    logger = logging.getLogger("activelabel")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    monkeypatch.setenv("ACTIVELABEL_STAGE", "local")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "activelabel-dev-api_handler")
    assert logs.configure_for_lambda() is False  # the local stack configures itself
    monkeypatch.setenv("ACTIVELABEL_STAGE", "dev")
    try:
        assert logs.configure_for_lambda() is True
        logging.getLogger("activelabel.api").info("GET /health -> 200")
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["message"] == "GET /health -> 200"


def test_every_queue_message_carries_the_correlation_id():
    """Each message body store/queue.py builds spreads `**carried()`: a new kind of message keeps the
    chain from a completion to the work it causes."""
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "chalicelib" / "store" / "queue.py").read_text()
    bodies = [node.args[0] for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "dumps"
              and node.args and isinstance(node.args[0], ast.Dict)]
    assert len(bodies) >= 5
    for body in bodies:
        spread = [value for key, value in zip(body.keys, body.values) if key is None]
        assert any(isinstance(v, ast.Call) and getattr(v.func, "id", None) == "carried" for v in spread), \
            ast.unparse(body)
