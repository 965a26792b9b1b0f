"""DynamoDB requests per label on the local stack, before and after, in the same run.

    .venv/bin/python bench/requests_per_label.py [--before cefc9c4] [--completions 1000] [--pool 500]
                                                 [--out bench/results/requests_per_label.json]

For each tree (the commit `--before`, checked out in a temporary `git worktree`, and this checkout)
a child process starts that tree's local stack (`start_stack`, in process, its pump thread
delivering as `make serve` does) and counts every AWS request through its own wrapper of botocore's
`_make_api_call` (so the old tree, which has no `GET /local/aws-requests`, is counted the same way),
attributed to the HTTP request or to the Lambda handler (the pump's `handler_map` entry) that made it:

1. completions: a text project (min_completions and retrain_every = completions / 10, so a
   training every 100 of 1,000), `--completions` + `--pool` tasks, one completion each on the first
   `--completions` tasks, POSTed one after another; the pump drains. Reported: DynamoDB requests per
   completion of the POST and of the stream (`on_completion`), and in all (a training every 100
   included: the train worker's and the rescore worker's requests are reported apart);
2. one more training (`POST /train`, `ml.promotion: always`) of the same labels: the project-item
   writes of the train worker per training, and the rescore worker's task-table writes per task of
   the pool it rescores (`--pool` tasks, scored and pre-annotated).

Counts, not times: the machine's load does not change them. Child processes bind 127.0.0.1 only
and stop their stack before they exit.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


class Meter:
    """Every AWS request of the process: (who, service, operation, table) -> count."""

    def __init__(self) -> None:
        import botocore.client

        self.counts: collections.Counter = collections.Counter()
        self.local = threading.local()
        self.lock = threading.Lock()
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client, operation, params):
            service = client.meta.service_model.service_name
            table = params.get("TableName")
            if table is None and params.get("TransactItems"):
                table = "+".join(sorted({a["TableName"] for item in params["TransactItems"] for a in item.values()}))
            who = getattr(meter.local, "who", None) or threading.current_thread().name
            with meter.lock:
                meter.counts[(who, service, operation, table)] += 1
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = metered

    def attribute(self, app) -> None:
        """Requests made inside a Lambda handler count for that handler; inside the HTTP server for "api"."""
        for name, handler in list(app.handler_map.items()):
            def wrapped(event, context, _handler=handler, _name=name):
                self.local.who = _name
                try:
                    return _handler(event, context)
                finally:
                    self.local.who = None
            app.handler_map[name] = wrapped

    def take(self) -> collections.Counter:
        with self.lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts


def _who(thread_name: str) -> str:
    return thread_name if not thread_name.startswith(("Thread-", "activelabel-http")) else "api"


def summarise(counts: collections.Counter) -> dict:
    """{who: {"dynamodb": n, "writes": n, "project_writes": n, "task_writes": n, "by_operation": {...}}}."""
    out: dict = {}
    for (who, service, operation, table), n in counts.items():
        row = out.setdefault(_who(who), {"dynamodb": 0, "writes": 0, "project_writes": 0, "task_writes": 0,
                                          "other_services": 0, "by_operation": collections.Counter()})
        if service != "dynamodb":
            row["other_services"] += n
            continue
        row["dynamodb"] += n
        row["by_operation"][f"{operation} {(table or '').split('-')[-1]}"] += n
        if operation in WRITES:
            row["writes"] += n
            tables = (table or "").split("+")
            row["project_writes"] += n if any(t.endswith("-projects") for t in tables) else 0
            row["task_writes"] += n if any(t.endswith("-tasks") for t in tables) else 0
    for row in out.values():
        row["by_operation"] = dict(row["by_operation"].most_common())
    return out


def child(tree: Path, completions: int, pool: int) -> dict:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    meter = Meter()
    from activelabel_client.client import ActivelabelClient
    from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_spam
    from chalicelib.local.server import start_stack

    stack = start_stack(port=0, schedule_every=None, project_dir=tree)
    try:
        meter.attribute(stack.app)
        rows = sms_spam()
        every = max(1, completions // 10)
        with ActivelabelClient(stack.url, stack.admin_token, timeout=120) as api:
            project = api.create_project("requests per label", SMS_LABEL_CONFIG,
                                         ml={"min_completions": every, "retrain_every": every, "promotion": "always"})
            texts = [rows[i % len(rows)] for i in range(completions + pool)]
            ids = api.import_tasks(project["id"], [{"data": {"text": f"{r['text']} #{i}"}} for i, r in enumerate(texts)],
                                   progress=False)
            stack.pump.drain(timeout=600)
            meter.take()
            for task_id, row in zip(ids[:completions], texts):
                done = choice_completion(row["label"], "bench")
                api.add_completion(project["id"], task_id, done["result"], done["completed_by"])
            stack.pump.drain(timeout=1800)
            labelling = summarise(meter.take())
            trainings = sum(j["kind"] == "training" for j in api.jobs(project["id"]))
            api.train(project["id"])
            stack.pump.drain(timeout=1800)
            retrain = summarise(meter.take())
            state = api.training(project["id"])
    finally:
        stack.stop()
    return {"tree": str(tree), "completions": completions, "pool": pool, "trainings_while_labelling": trainings,
            "labelling": labelling, "one_training": retrain, "model_version": state.get("model_version")}


def figures(result: dict) -> dict:
    n, pool = result["completions"], result["pool"]
    lab, one = result["labelling"], result["one_training"]

    def get(part, who, key):
        return part.get(who, {}).get(key, 0)

    api, stream = get(lab, "api", "dynamodb"), get(lab, "on_completion", "dynamodb")
    return {
        "per_completion_post": api / n,
        "per_completion_stream": stream / n,
        "per_completion": (api + stream) / n,
        "per_completion_all_workers": sum(row["dynamodb"] for row in lab.values()) / n,
        "trainings_while_labelling": result["trainings_while_labelling"],
        "project_writes_per_training": get(one, "train_worker", "project_writes"),
        "task_writes_per_rescored_task": get(one, "rescore_worker", "task_writes") / pool,
        "rescore_requests_per_task": get(one, "rescore_worker", "dynamodb") / pool,
    }


def run_child(tree: Path, args) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = out.name
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), "--completions",
               str(args.completions), "--pool", str(args.pool), "--out", path]
    subprocess.run(command, check=True, cwd=tree)
    result = json.loads(Path(path).read_text())
    os.unlink(path)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="cefc9c4")
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--pool", type=int, default=500)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "requests_per_label.json"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        Path(args.out).write_text(json.dumps(child(Path(args.child), args.completions, args.pool), indent=1))
        return 0
    before_tree = Path(tempfile.mkdtemp(prefix="requests-before-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(before_tree), args.before], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    (before_tree / ".venv").symlink_to(REPO / ".venv") if not (before_tree / ".venv").exists() else None
    try:
        started = time.time()
        before = run_child(before_tree, args)
        after = run_child(REPO, args)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before_tree)], cwd=REPO, check=False)
    report = {"before": args.before, "before_figures": figures(before), "after_figures": figures(after),
              "seconds": round(time.time() - started), "raw": {"before": before, "after": after}}
    b, a = report["before_figures"], report["after_figures"]
    report["ratios"] = {k: (a[k] / b[k] if b[k] else None) for k in b if isinstance(b[k], (int, float))}
    Path(args.out).write_text(json.dumps(report, indent=1))
    for key in b:
        print(f"{key:34s} before {b[key]:8.3f}  after {a[key]:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
