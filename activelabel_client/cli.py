"""The `python -m activelabel_client` command line: projects, import, status, train, predict, export, demo.

    python -m activelabel_client [--url URL] [--token TOKEN] <command> ...

`--url` defaults to $ACTIVELABEL_URL, else http://127.0.0.1:8000 (`make serve`); `--token` to
$ACTIVELABEL_TOKEN, else $ACTIVELABEL_ADMIN_TOKEN. Exit status: 0 on success, 1 when the API
answered an error (its message is printed), 2 for bad arguments or unreadable files.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from activelabel_client import health
from activelabel_client.client import DEFAULT_URL, ActivelabelClient, ApiError
from activelabel_client.datasets import SMS_LABEL_CONFIG

EXIT_OK, EXIT_API_ERROR, EXIT_USAGE = 0, 1, 2


class TaskFileError(ValueError):
    """A task file that cannot be read; the message names the file and line."""


# ---------------------------------------------------------------- task files

def text_variable(label_config: str) -> str:
    """The data key of the config's first object tag (`value="$text"` -> "text"); "text" if none."""
    match = re.search(r"""\bvalue\s*=\s*["']\$([A-Za-z0-9_.\-]+)["']""", label_config or "")
    return match.group(1) if match else "text"


def _as_task(item: Any, where: str, text_field: str | None, data_key: str) -> dict:
    """One file entry -> a Label Studio task: tasks stay tasks, data objects and strings get wrapped."""
    if isinstance(item, str):
        return {"data": {data_key: item}}
    if not isinstance(item, dict):
        raise TaskFileError(f"{where}: expected a task or data object, got {type(item).__name__}")
    task = dict(item) if isinstance(item.get("data"), dict) else {"data": item}
    if text_field:
        data = task["data"]
        if text_field not in data:
            raise TaskFileError(f"{where}: no field {text_field!r} (has {sorted(data)[:10]})")
        task["data"] = {**data, data_key: data[text_field]}
    return task


def read_task_file(path: str | Path, text_field: str | None = None, data_key: str = "text") -> list[dict]:
    """Read tasks from a JSON file (a Label Studio task list, `{"tasks": [...]}` or one task) or a
    JSON Lines file (`.jsonl` / `.ndjson`: one task, data object or string per line).

    Data objects without a `data` key are wrapped as `{"data": object}`; with `text_field`, that
    field of each data object is also copied to `data_key` (the config's `$variable`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TaskFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        items = _json_lines(path, text)
    else:
        try:
            value = json.loads(text)
        except ValueError as exc:
            if path.suffix.lower() == ".json":
                raise TaskFileError(f"{path}: not valid JSON ({exc})") from exc
            items = _json_lines(path, text)  # no telling suffix: try JSON Lines
        else:
            if isinstance(value, dict) and isinstance(value.get("tasks"), list):
                value = value["tasks"]
            items = [(f"{path} item {i}", item) for i, item in
                     enumerate(value if isinstance(value, list) else [value])]
    tasks = [_as_task(item, where, text_field, data_key) for where, item in items]
    if not tasks:
        raise TaskFileError(f"{path}: no tasks")
    return tasks


def _json_lines(path: Path, text: str) -> list[tuple[str, Any]]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((f"{path} line {number}", json.loads(line)))
        except ValueError as exc:
            raise TaskFileError(f"{path} line {number}: not valid JSON ({exc})") from exc
    return items


# ---------------------------------------------------------------- output

def format_error(exc: ApiError) -> str:
    """`error: <the API's message> (HTTP 409 ConflictError)`; connection problems without a status."""
    if not exc.status:
        return f"error: {exc.message}"
    return f"error: {exc.message or exc.code} (HTTP {exc.status} {exc.code})"


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _number(value: Any, digits: int = 3) -> str:
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def status_rows(project: dict, training: dict, active: dict | None) -> list[tuple[str, str]]:
    """The `status` command's key/value rows."""
    metrics = (active or {}).get("metrics") or {}
    min_completions = training.get("min_completions", (project.get("ml") or {}).get("min_completions"))
    rows = [
        ("project", f"{project['id']}  {project.get('title', '')!r}"),
        ("training state", training.get("state")),
        ("accepted tasks", f"{training.get('accepted_tasks')} (min_completions {min_completions})"),
        ("completions", training.get("completions")),
        ("tasks", project.get("task_count")),
        ("model version", training.get("model_version") or "- (none yet)"),
    ]
    if active:
        rows += [
            ("model", f"{active.get('model')}, trained {active.get('created_at')}"),
            ("n_train", active.get("n_train")),
            ("accuracy", _number(metrics.get("accuracy"))),
            ("macro-F1", _number(metrics.get("macro_f1"))),
            ("evaluation", f"{metrics.get('method', '-')} (n_eval {metrics.get('n_eval', '-')})"),
        ]
    rows.append(("last error", training.get("last_error") or "-"))
    return [(key, "-" if value is None else str(value)) for key, value in rows]


# ---------------------------------------------------------------- commands

def cmd_projects(api: ActivelabelClient, args: argparse.Namespace) -> int:
    projects = api.list_projects()
    if not projects:
        print("no projects yet (create one: python -m activelabel_client create-project --sms-demo-config --title T)")
        return EXIT_OK
    print(format_table(
        [(p["id"], _shorten(p.get("title", ""), 30), p.get("task_count"), p.get("completions"),
          p.get("accepted_tasks"), p.get("training_state"), p.get("model_version")) for p in projects],
        ["id", "title", "tasks", "completions", "accepted", "training", "model"]))
    return EXIT_OK


def cmd_create_project(api: ActivelabelClient, args: argparse.Namespace) -> int:
    if args.sms_demo_config:
        label_config = SMS_LABEL_CONFIG
    else:
        try:
            label_config = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"error: {args.config}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    ml = {}
    if args.min_completions is not None:
        ml["min_completions"] = args.min_completions
    if args.agreement_threshold is not None:
        ml["agreement_threshold"] = args.agreement_threshold
    project = api.create_project(args.title, label_config, ml=ml or None)
    print(f"created project {project['id']} {project['title']!r}; ML settings: {json.dumps(project['ml'])}")
    return EXIT_OK


def cmd_import(api: ActivelabelClient, args: argparse.Namespace) -> int:
    data_key = args.data_key
    if data_key is None:
        data_key = text_variable(api.get_project(args.project)["label_config"]) if args.text_field else "text"
    try:
        tasks = read_task_file(args.file, text_field=args.text_field, data_key=data_key)
    except TaskFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    task_ids = api.import_tasks(args.project, tasks, batch_size=args.batch_size, progress=not args.no_progress)
    print(f"imported {len(task_ids)} tasks into project {args.project}"
          + (f" (ids {task_ids[0]}..{task_ids[-1]})" if task_ids else ""))
    return EXIT_OK


def cmd_status(api: ActivelabelClient, args: argparse.Namespace) -> int:
    project = api.get_project(args.project)
    training = api.training(args.project)
    active = api.active_model_version(args.project)
    rows = status_rows(project, training, active)
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    return EXIT_OK


def cmd_train(api: ActivelabelClient, args: argparse.Namespace) -> int:
    answer = api.train(args.project)
    print(f"training {answer.get('state', 'queued')} (request {answer.get('request_seq')}); "
          f"follow it with: python -m activelabel_client status {args.project}")
    return EXIT_OK


def cmd_predict(api: ActivelabelClient, args: argparse.Namespace) -> int:
    if args.file:
        try:
            tasks = read_task_file(args.file)
        except TaskFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        data_key = args.data_key or text_variable(api.get_project(args.project)["label_config"])
        shown = [t["data"].get(data_key, json.dumps(t["data"])) for t in tasks]
        tasks = [{"data": t["data"]} for t in tasks]
    else:
        data_key = args.data_key or text_variable(api.get_project(args.project)["label_config"])
        tasks = [{"data": {data_key: text}} for text in args.text]
        shown = list(args.text)
    results = api.predict(args.project, tasks=tasks)
    rows = [(prediction_label(r), f"{r.get('score', 0):.3f}", _shorten(text)) for r, text in zip(results, shown)]
    print(format_table(rows, ["label", "score", "input"]))
    if results:
        print(f"(model {results[0].get('model_version')})")
    return EXIT_OK


def job_rows(jobs: list[dict]) -> list[tuple]:
    return [(j["id"], j["kind"], j["state"], f"{j.get('done', 0)}/{j.get('total', 0)}", j.get("failed"),
             j.get("predictions_stored"), j.get("started"), j.get("finished"), _shorten(j.get("error") or "", 40) or None)
            for j in jobs]


JOB_HEADERS = ["job", "kind", "state", "done", "failed", "predictions", "started", "finished", "error"]


def follow_job(api: ActivelabelClient, project: str, job: dict, interval: float, timeout: float,
               progress: bool = True) -> dict:
    """Poll a running job, showing done/total as a progress bar, until it finishes (or `timeout`)."""
    from activelabel_client.client import _progress_bar

    bar = _progress_bar(int(job.get("total") or 0), job["id"], "task", progress)
    shown = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            done = int(job.get("done") or 0) + int(job.get("failed") or 0)
            if done > shown:
                bar.update(done - shown)
                shown = done
            if job.get("state") != "running" or time.monotonic() >= deadline:
                return job
            time.sleep(interval)
            job = api.job(project, job["id"])
    finally:
        bar.close()


def cmd_jobs(api: ActivelabelClient, args: argparse.Namespace) -> int:
    jobs = api.jobs(args.project)
    if args.job:
        jobs = [api.job(args.project, args.job)]
    if not jobs:
        print("no jobs yet")
        return EXIT_OK
    running = [j for j in jobs if j.get("state") == "running"]
    if running and not args.no_follow:
        job = follow_job(api, args.project, running[0], args.interval, args.timeout, not args.no_progress)
        jobs = [job if j["id"] == job["id"] else j for j in jobs]
    print(format_table(job_rows(jobs), JOB_HEADERS))
    return EXIT_OK


def cmd_versions(api: ActivelabelClient, args: argparse.Namespace) -> int:
    versions = api.model_versions(args.project)
    if not versions:
        print("no model versions yet")
        return EXIT_OK
    rows = [("*" if v.get("active") else "", v["model_version"], v.get("status"), v.get("n_train"),
             _number((v.get("metrics") or {}).get("accuracy")), v.get("created_at"),
             _shorten((v.get("decision") or {}).get("reason") or "", 70) or None) for v in versions]
    print(format_table(rows, ["active", "version", "status", "n_train", "accuracy", "created", "reason"]))
    return EXIT_OK


def cmd_rollback(api: ActivelabelClient, args: argparse.Namespace) -> int:
    answer = api.activate_version(args.project, args.version, pin=True if args.pin else None)
    pinned = answer.get("pinned_version")
    print(f"{answer['model_version']} is active (was {answer.get('previous')})"
          + (f"; pinned to v{pinned}: new versions are held until unpinned" if pinned else ""))
    if answer.get("preannotation_job"):
        print(f"pre-annotation job {answer['preannotation_job']} started (follow it: jobs {args.project})")
    return EXIT_OK


def prediction_label(result: dict) -> str:
    """The label(s) of a Label Studio prediction, e.g. "spam"."""
    labels = []
    for item in result.get("result", []):
        value = item.get("value") or {}
        labels += value.get("choices") or value.get("labels") or []
    return ", ".join(map(str, labels)) or "?"


def cmd_export(api: ActivelabelClient, args: argparse.Namespace) -> int:
    body = api.export(args.project)
    text = json.dumps(body, ensure_ascii=False, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        print(f"exported {len(body.get('tasks', []))} tasks to {args.output}")
    else:
        print(text)
    return EXIT_OK


def cmd_demo(api: ActivelabelClient | None, args: argparse.Namespace) -> int:
    from activelabel_client import demo

    return demo.main(args)


# ---------------------------------------------------------------- parser and entry point

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m activelabel_client",
        description="Command-line client for the activelabel API.",
        epilog="Start a server with `make serve`, or run everything at once with "
               "`python -m activelabel_client demo`.")
    parser.add_argument("--url", default=os.environ.get("ACTIVELABEL_URL") or DEFAULT_URL,
                        help=f"API base URL (env ACTIVELABEL_URL; default {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get("ACTIVELABEL_TOKEN") or os.environ.get("ACTIVELABEL_ADMIN_TOKEN"),
                        help="API token (env ACTIVELABEL_TOKEN, else ACTIVELABEL_ADMIN_TOKEN)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("projects", help="list projects")
    p.set_defaults(run=cmd_projects)

    p = sub.add_parser("create-project", help="create a project")
    p.add_argument("--title", required=True)
    config = p.add_mutually_exclusive_group(required=True)
    config.add_argument("--config", metavar="FILE", help="Label Studio labeling config (XML file)")
    config.add_argument("--sms-demo-config", action="store_true", help="the SMS ham/spam Text+Choices config")
    p.add_argument("--min-completions", type=int, help="accepted tasks before the first training")
    p.add_argument("--agreement-threshold", type=float, help="agreement a task needs to be accepted, in [0, 1]")
    p.set_defaults(run=cmd_create_project)

    p = sub.add_parser("import", help="import tasks from a .json (Label Studio tasks) or .jsonl file")
    p.add_argument("project")
    p.add_argument("file", metavar="FILE.json|FILE.jsonl")
    p.add_argument("--text-field", help="field of each data object holding the text (copied to the "
                                        "config's $variable)")
    p.add_argument("--data-key", help="data key to copy --text-field to (default: the config's first $variable)")
    p.add_argument("--batch-size", type=int, default=500, help="tasks per request (default 500)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_import)

    p = sub.add_parser("status", help="training state, counters, model version and its metrics")
    p.add_argument("project")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("train", help="queue a training now (thresholds permitting)")
    p.add_argument("project")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("predict", help="predict labels with the project's active model")
    p.add_argument("project")
    inputs = p.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--text", action="append", help="a text to classify (repeatable)")
    inputs.add_argument("--file", help="tasks to predict (.json or .jsonl, as for import)")
    p.add_argument("--data-key", help="data key for --text (default: the config's first $variable)")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("jobs", help="background jobs (training, rescoring, pre-annotation); follows a running one")
    p.add_argument("project")
    p.add_argument("job", nargs="?", help="one job id (default: all, following the newest running one)")
    p.add_argument("--no-follow", action="store_true", help="list and exit, even if a job is running")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while following")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--timeout", type=float, default=3600.0, help="stop following after this many seconds")
    p.set_defaults(run=cmd_jobs)

    p = sub.add_parser("versions", help="model versions: status (promoted, rejected, held), active, why")
    p.add_argument("project")
    p.set_defaults(run=cmd_versions)

    p = sub.add_parser("rollback", help="make a stored model version active (its artifact is re-checked)")
    p.add_argument("project")
    p.add_argument("version", help="e.g. v3 or 3")
    p.add_argument("--pin", action="store_true", help="also pin it: new versions are held until unpinned")
    p.set_defaults(run=cmd_rollback)

    p = sub.add_parser("health", help="queues, dead letters and the projects' last failures (admin token)")
    p.add_argument("project", nargs="?", help="one project (default: every project)")
    p.set_defaults(run=lambda api, args: health.print_health(api.health_detail(args.project)))

    p = sub.add_parser("export", help="export all tasks with completions and predictions (Label Studio JSON)")
    p.add_argument("project")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=cmd_export)

    from activelabel_client import demo

    p = sub.add_parser("demo", help="run the guided demo (starts the local stack unless --use-running)")
    demo.add_arguments(p)
    p.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return args.run(None, args)
        with ActivelabelClient(args.url, args.token, timeout=args.timeout) as api:
            return args.run(api, args)
    except ApiError as exc:
        print(format_error(exc), file=sys.stderr)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        return 130
