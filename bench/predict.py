"""Benchmark: `POST /predict` over HTTP against the same model called in-process.

    .venv/bin/python bench/predict.py                      # starts the local stack in-process
    .venv/bin/python bench/predict.py --url http://127.0.0.1:8000 --token T   # a running `make serve`

Trains a text classifier on ~300 SMS completions through the API (tasks imported with their
annotations; the completions stream accepts them and queues one training), then, for 1 and 100
tasks per request, measures after a warm-up:

- HTTP: the latency of `POST /api/projects/{id}/predict` from a keep-alive `requests` session
  (JSON, auth, project lookup in DynamoDB/moto, model cache, Label Studio formatting);
- in-process: `model.predictions(samples, model_version)` on the same inputs, i.e.
  `predict_proba` + Label Studio formatting, on the very model object the API serves
  (`chalicelib.ml.serving.load(prediction.project_pointer(project), prediction.fetch)`). With `--url` the server's S3
  is out of reach, so the same model kind is refit here on the exported accepted tasks with
  the server's seed (same data, same estimator).

Prints a table (median and p90 per side, ratio of medians) and writes it to bench/out/predict.json.
Loopback only; every loop is bounded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activelabel_client.client import ActivelabelClient, version_number
from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion, sms_split

OUT_FILE = ROOT / "bench" / "out" / "predict.json"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
WARMUP = 5
# batch size -> repetitions
REPETITIONS = {1: 50, 100: 20}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def time_calls(call: Callable[[], object], repetitions: int, warmup: int = WARMUP) -> list[float]:
    """Wall-clock milliseconds of `repetitions` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(repetitions):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def summary(timings: list[float]) -> dict:
    return {"median": round(statistics.median(timings), 3), "p90": round(percentile(timings, 90), 3),
            "min": round(min(timings), 3), "n": len(timings)}


# ---------------------------------------------------------------- set-up: a trained project

def train_project(api: ActivelabelClient, n_train: int, drain: Callable[[], object] | None,
                  timeout: float) -> tuple[str, dict]:
    """A project whose one model is trained on `n_train` SMS completions; returns (id, /training)."""
    pool, _ = sms_split(n_train, 0, seed=11)
    project = api.create_project("bench: predict latency", SMS_LABEL_CONFIG,
                                 ml={"min_completions": n_train, "retrain_every": 10 * n_train})
    tasks = [{"data": {"text": row["text"]}, "annotations": [choice_completion(row["label"], "bench")]}
             for row in pool]
    api.import_tasks(project["id"], tasks, progress=False)
    print(f"project {project['id']}: imported {n_train} tasks with one completion each; "
          "waiting for the stream to accept them and the model to train ...", flush=True)
    started = time.monotonic()
    if drain is not None:
        drain()  # deliver the stream records and the training request now
    state = api.wait_for_model(project["id"], timeout=timeout, settled=True)
    print(f"model {state['model_version']} trained on {state['accepted_tasks']} accepted tasks "
          f"({time.monotonic() - started:.1f} s)", flush=True)
    return project["id"], state


def served_model(project_id: str):
    """The model object the in-process API serves for the project (same cache, same loader)."""
    from chalicelib.ml import serving
    from chalicelib.services import prediction
    from chalicelib.store import repository

    pointer = prediction.project_pointer(repository.get_project(project_id, consistent=True))
    return serving.load(pointer, prediction.fetch), "the API's model object (chalicelib.ml.serving.load)"


def refit_model(api: ActivelabelClient, project_id: str, model_version: str):
    """The same model kind refit here on the exported accepted tasks (when the server is remote)."""
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import registry, training

    project = api.get_project(project_id)
    kind = registry.get_kind(project["ml"]["model"])
    target = kind.targets(parse_label_config(project["label_config"]))[0]
    accepted = []
    for task in api.export(project_id)["tasks"]:
        if task.get("is_labeled") and task.get("annotations"):
            choices = task["annotations"][0]["result"][0]["value"]["choices"]
            accepted.append((task["data"], {target.control.name: choices}))
    outcome = training.train(kind, target, accepted, seed=version_number(model_version) or 0)
    return outcome.model, f"refit in-process on the {len(accepted)} exported accepted tasks (same kind and seed)"


# ---------------------------------------------------------------- the measurement

def measure(api: ActivelabelClient, project_id: str, model, model_version: str) -> list[dict]:
    _, test = sms_split(0, 200, seed=11)  # never imported: the seeded split's test side
    rows = []
    for batch, repetitions in REPETITIONS.items():
        samples = [{"text": row["text"]} for row in test[:batch]]
        tasks = [{"data": sample} for sample in samples]

        over_http = api.predict(project_id, tasks=tasks)
        in_process = model.predictions(samples, model_version)
        same = [r["result"][0]["value"]["choices"] for r in over_http] == \
               [r["result"][0]["value"]["choices"] for r in in_process]

        http_ms = time_calls(lambda tasks=tasks: api.predict(project_id, tasks=tasks), repetitions)
        local_ms = time_calls(lambda samples=samples: model.predictions(samples, model_version), repetitions)
        http, local = summary(http_ms), summary(local_ms)
        rows.append({"batch": batch, "repetitions": repetitions, "warmup": WARMUP,
                     "http_ms": http, "in_process_ms": local,
                     "ratio_median": round(http["median"] / local["median"], 2),
                     "same_labels": same})
    return rows


def print_table(rows: list[dict]) -> None:
    print()
    print(f"{'batch':>5}  {'HTTP median ms':>14}  {'HTTP p90':>8}  {'in-process median ms':>20}  "
          f"{'in-proc p90':>11}  {'ratio':>6}")
    for row in rows:
        print(f"{row['batch']:>5}  {row['http_ms']['median']:>14.2f}  {row['http_ms']['p90']:>8.2f}  "
              f"{row['in_process_ms']['median']:>20.2f}  {row['in_process_ms']['p90']:>11.2f}  "
              f"{row['ratio_median']:>5.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (e.g. `make serve`) instead of an in-process stack")
    parser.add_argument("--token", default=os.environ.get("ACTIVELABEL_TOKEN") or os.environ.get("ACTIVELABEL_ADMIN_TOKEN"),
                        help="token for --url (env ACTIVELABEL_TOKEN / ACTIVELABEL_ADMIN_TOKEN)")
    parser.add_argument("--n-train", type=int, default=300, help="SMS completions to train on (default 300)")
    parser.add_argument("--train-timeout", type=float, default=600.0, help="seconds to wait for the model")
    parser.add_argument("--out", default=str(OUT_FILE), help=f"JSON output (default {OUT_FILE.relative_to(ROOT)})")
    args = parser.parse_args(argv)

    stack = None
    if args.url:
        if urlparse(args.url).hostname not in LOOPBACK_HOSTS:
            parser.error("--url must be a loopback address (this benchmark stays on this machine)")
        if not args.token:
            parser.error("--url needs --token")
        url, token, mode = args.url, args.token, "running server (--url)"
    else:
        from chalicelib.local.server import start_stack

        stack = start_stack(port=0, host="127.0.0.1")
        url, token, mode = stack.url, stack.admin_token, "in-process local stack"
    print(f"activelabel predict benchmark: {mode} at {url}", flush=True)
    try:
        with ActivelabelClient(url, token, timeout=120) as api:
            drain = (lambda: stack.pump.drain(timeout=args.train_timeout)) if stack else None
            project_id, state = train_project(api, args.n_train, drain, args.train_timeout)
            model_version = state["model_version"]
            model, baseline = served_model(project_id) if stack else refit_model(api, project_id, model_version)
            rows = measure(api, project_id, model, model_version)
    finally:
        if stack is not None:
            stack.stop()

    print_table(rows)
    print(f"\nbaseline: {baseline}")
    report = {
        "benchmark": "POST /predict over HTTP vs in-process model.predictions (predict_proba + Label Studio format)",
        "mode": mode,
        "model_version": model_version,
        "n_train": state["accepted_tasks"],
        "baseline": baseline,
        "results": rows,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
