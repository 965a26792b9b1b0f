"""Benchmark: `GET /next` at two pool sizes, and rescoring a large pool through the SQS fan-out.

    make bench-next                                               # pools of 1,000 and 100,000 tasks
    .venv/bin/python bench/next_task.py --sizes 1000,10000 --rescore 10000   # quicker

Runs the real app (Chalice's test client for HTTP) on embedded moto (`mock_aws`), with the real
event pump (the one `make serve` uses). Tasks are written with the store's batch writer (what an
import does, minus HTTP), already ranked as a rescoring leaves them.

1. `next`, on two DynamoDB implementations (`--backends`): one project per pool size in the same
   table; in each of `--rounds` rounds annotator i (of `--annotators`) calls `next` on every pool
   in turn (interleaved: same machine load, same i locks held ahead), then the round's locks are
   released. Reported per pool: DynamoDB requests per call by operation (botocore event hooks),
   call by call; median and p90 latency; and a baseline measured the same way, one bare
   `Query(Limit=1)` on the `scored` index. On **dynalite** (bench/local_dynamodb.py: a DynamoDB
   implementation that reads index ranges, as DynamoDB does) the median ratio between pool sizes
   is the figure that carries over. On **moto** every Query reads and sorts the whole table
   (O(table)), so only its request counts carry over (few calls: `--moto-annotators`).
2. Rescoring: a text model trained on 60 SMS labels is promoted, `rescoring.start` queues the root
   range, and the pump drains the fan-out. Reported: wall and process CPU time (per task too),
   messages (splitting ones + chunks, checked against the tree `rescoring.split` gives), tasks
   rescored, dead letters, and two moto baselines from the same table: one chunk's range Query
   (O(table) on moto) and one rescoring UpdateItem.

    .venv/bin/python bench/next_task.py --sizes "" --rescore 100000 --out rescore_100k.json   # rescoring only

Writes bench/results/next_task.json (`--out`) and prints a table.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

RESULTS = ROOT / "bench" / "results"
ANNOTATORS = 50  # --annotators


def env_setup():
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "ACTIVELABEL_STAGE": "bench",
        "ACTIVELABEL_ADMIN_TOKEN": "bench-token",
    })


def fill_pool(project_id: str, size: int, texts: list[str], seed: int) -> None:
    """`size` unlabeled tasks, ranked by a (fake-random) priority as a rescoring would leave them."""
    import random

    from chalicelib.store import dynamo
    from chalicelib.store import projects as project_db
    from chalicelib.store import task_import
    from chalicelib.store.models import TaskModel

    rng = random.Random(seed)
    now = dynamo.now()
    batch = []
    for task_id in range(1, size + 1):
        batch.append(TaskModel(
            project_id=project_id, task_id=task_id, data={"text": texts[task_id % len(texts)]}, created_at=now,
            random_key=rng.random(), pool_project=project_id,
            scored_project=project_id, priority=rng.random(), score_version=1))
        if len(batch) == 5000:
            task_import.put_tasks(batch, [])
            batch = []
    task_import.put_tasks(batch, [])
    project_db.reserve_task_ids(project_id, size)


def measure_next(client_http, pools: dict[int, str], headers: dict, annotators: int, rounds: int) -> dict:
    """`next` on every pool, interleaved: in each round annotator i calls `next` on each pool in turn,
    so the pools see the same machine load and the same lock state (i other annotators hold a task);
    the locks of a round are released before the next round. Baseline, interleaved the same way: one
    bare `Query(Limit=1)` on the `scored` index (the cheapest request `next` makes)."""
    from chalicelib.local.metering import count_dynamodb_requests
    from chalicelib.store import tasks as task_db
    from chalicelib.store.models import TaskModel

    out = {size: {"latencies": [], "baseline": [], "requests": []} for size in pools}
    for round_no in range(rounds):
        held = []
        for i in range(annotators):
            annotator = f"annotator-{round_no}-{i}"
            for size, project_id in pools.items():
                with count_dynamodb_requests() as calls:
                    started = time.perf_counter()
                    answer = client_http.get(f"/api/projects/{project_id}/next?annotator={annotator}", headers=headers)
                    out[size]["latencies"].append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.body
                out[size]["requests"].append(dict(calls))
                held.append((project_id, json.loads(answer.body)["id"], annotator))
                started = time.perf_counter()
                next(TaskModel.scored_index.query(project_id, limit=1, page_size=1).page_iter)
                out[size]["baseline"].append(time.perf_counter() - started)
        for project_id, task_id, annotator in held:
            assert task_db.release_lock(project_id, task_id, annotator)
    report = {}
    for size, r in out.items():
        next_ms = statistics.median(r["latencies"]) * 1000
        bare_ms = statistics.median(r["baseline"]) * 1000
        report[size] = {
            "calls": len(r["latencies"]),
            "requests_per_call": [json.loads(d) for d in sorted({json.dumps(c, sort_keys=True) for c in r["requests"]})],
            "requests_by_lock_depth": [sum(c.values()) for c in r["requests"][:annotators]],
            "max_requests": max(sum(c.values()) for c in r["requests"]),
            "next_median_ms": round(next_ms, 2), "next_p90_ms": round(_quantile(r["latencies"], 0.9) * 1000, 2),
            "bare_query_median_ms": round(bare_ms, 2), "next_in_bare_queries": round(next_ms / bare_ms, 2)}
    return report


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_next_benchmark(app_module, sizes: list[int], texts: list[str], annotators: int, rounds: int) -> dict:
    """Fill one project per pool size, then measure `next` on all of them (interleaved)."""
    from chalice.test import Client

    from activelabel_client.datasets import SMS_LABEL_CONFIG
    from chalicelib.store import projects as project_db

    pools = {}
    for size in sizes:
        project = project_db.create_project(f"pool-{size}", SMS_LABEL_CONFIG, {
            "model": "text_classifier", "sampling": "margin", "min_completions": 10})
        project_db.update_project(project.project_id, completions_count=1000)  # past the random first batch
        started = time.perf_counter()
        fill_pool(project.project_id, size, texts, seed=size)
        print(f"pool of {size} tasks written in {time.perf_counter() - started:.1f} s", flush=True)
        pools[size] = project.project_id
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as client:
        return measure_next(client.http, pools, {"Authorization": "Token bench-token"}, annotators, rounds)


def use_dynalite(endpoint: str) -> None:
    """Point the store's DynamoDB (only) at `endpoint` and create the template's tables there."""
    from chalicelib.local.resources import create_resources
    from chalicelib.store import aws
    from chalicelib.store.models import bind_tables

    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    create_resources("activelabel-bench", types={"AWS::DynamoDB::Table"}, time_to_live=False)
    aws.reset_clients()
    bind_tables()


def train_and_promote(project_id: str) -> int:
    from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split
    from chalicelib.labeling.config import parse_label_config
    from chalicelib.ml import registry, training
    from chalicelib.store import artifacts
    from chalicelib.store import dynamo
    from chalicelib.store import training as training_db
    from chalicelib.domain.records import ModelPointer, ModelVersion

    pool, _ = sms_split(60, 0, seed=0)
    kind = registry.get_kind("text_classifier")
    target = kind.targets(parse_label_config(SMS_LABEL_CONFIG))[0]
    outcome = training.train(kind, target, [({"text": r["text"]}, {"label": [r["label"]]}) for r in pool], seed=1)
    stored = artifacts.put_artifact(artifacts.artifact_key(project_id, 2), training.serialize(outcome.model), {})
    pointer = ModelPointer(bucket=stored.bucket, key=stored.key, version_id=stored.version_id, sha256=stored.sha256,
                           sklearn_version=training.sklearn_version(), model_version="v2")
    item = ModelVersion(project_id=project_id, version=2, model_version="v2", model=kind.name,
                        created_at=dynamo.now(), n_train=outcome.n_train, metrics=outcome.metrics, pointer=pointer,
                        label_changes=0, train_seq=1)
    training_db.record_model_version(item)
    assert training_db.promote(project_id, item)
    return 2


def fanout_messages(tasks: int, chunk: int) -> tuple[int, int]:
    """(splitting messages, chunks) of the fan-out tree for ids [1, tasks] (rescoring.split)."""
    from chalicelib.services import rescoring

    splits, chunks, ranges = 0, 0, [(1, tasks)]
    while ranges:
        first, last = ranges.pop()
        if last - first + 1 > chunk:
            splits += 1
            ranges += rescoring.split(first, last, chunk)
        else:
            chunks += 1
    return splits, chunks


def measure_rescore(app, env: dict, tasks: int, chunk: int, texts: list[str]) -> dict:
    """Rescore a pool of `tasks` through the fan-out, drained by the real event pump.

    Besides wall time it records the process CPU time (everything runs in this process: moto, the
    pump, the handlers; a fairer figure than wall time on a shared machine) and two baselines
    measured on the same table: one chunk's range Query (moto reads and sorts the whole table for
    it; DynamoDB reads only the range) and one conditional UpdateItem as rescoring writes it.
    """
    from activelabel_client.datasets import SMS_LABEL_CONFIG
    from chalicelib.services import rescoring
    from chalicelib.local.pump import EventPump
    from chalicelib.store import projects as project_db
    from chalicelib.store import tasks as task_db
    from chalicelib.store.models import TaskModel

    project = project_db.create_project("rescore", SMS_LABEL_CONFIG, {"model": "text_classifier", "sampling": "margin"})
    project_id = project.project_id
    started = time.perf_counter()
    fill_pool(project_id, tasks, texts, seed=7)
    print(f"rescoring pool of {tasks} tasks written in {time.perf_counter() - started:.1f} s", flush=True)
    version = train_and_promote(project_id)
    query_s, update_s = [], []
    for i in range(3):
        first = 1 + i * (tasks // 3)
        t0 = time.perf_counter()
        task_db.rescoring_tasks_in_range(project_id, first, min(tasks, first + chunk - 1))
        query_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        task_db.store_score(project_id, first, 0.5, version - 1)  # as the pool's previous model (then rescored)
        update_s.append(time.perf_counter() - t0)
    pump = EventPump(app, env)
    started, cpu_started = time.perf_counter(), time.process_time()
    rescoring.start(project_id, version, tasks)
    pump.drain(timeout=7200)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rescored = sum(1 for t in TaskModel.query(project_id, attributes_to_get=["task_id", "score_version"])
                   if t.score_version == version)
    splits, chunks = fanout_messages(tasks, chunk)
    messages = pump.delivered["rescore_worker"]
    return {"tasks": tasks, "chunk_size": chunk, "messages": messages, "splitting_messages": splits,
            "chunks": chunks, "tasks_rescored": rescored, "dead_letters": len(pump.dead_letters),
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "wall_ms_per_task": round(wall * 1000 / tasks, 2), "cpu_ms_per_task": round(cpu * 1000 / tasks, 2),
            "baseline_chunk_query_ms": round(statistics.median(query_s) * 1000, 1),
            "baseline_update_ms": round(statistics.median(update_s) * 1000, 2),
            "fanout_as_computed": messages == splits + chunks}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000", help='pool sizes for `next` ("": skip)')
    parser.add_argument("--backends", default="dynalite,moto", help="where `next` is measured: dynalite, moto or both")
    parser.add_argument("--rescore", type=int, default=100_000, help="pool size for the rescoring run (0: skip)")
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--out", default="next_task.json", help="result file name in bench/results/")
    parser.add_argument("--annotators", type=int, default=ANNOTATORS, help="annotators holding a lock at once")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of --annotators calls per pool (dynalite)")
    parser.add_argument("--moto-annotators", type=int, default=10,
                        help="calls per pool on moto (one round; a call on a 100k-task table takes seconds there)")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if not sizes:
        backends = []
    env_setup()
    from moto import mock_aws

    from local_dynamodb import dynalite

    report = {"next": {}, "rescore": None}
    with mock_aws(), (dynalite() if "dynalite" in backends else contextlib.nullcontext()) as endpoint:
        from activelabel_client.datasets import sms_spam
        from chalicelib.local.resources import create_resources
        from chalicelib.store.models import bind_tables

        env = create_resources("activelabel-bench")
        os.environ.update(env)
        os.environ["ACTIVELABEL_RESCORE_CHUNK"] = str(args.chunk)
        bind_tables()
        import app as app_module

        texts = [r["text"] for r in sms_spam()]
        if "moto" in backends:
            report["next"]["moto"] = run_next_benchmark(app_module, sizes, texts, args.moto_annotators, 1)
            print("moto", report["next"]["moto"], flush=True)
        if args.rescore:
            report["rescore"] = measure_rescore(app_module.app, env, args.rescore, args.chunk, texts)
            print(report["rescore"], flush=True)
        if "dynalite" in backends:  # last: from here on the store's DynamoDB is dynalite
            use_dynalite(endpoint)
            report["next"]["dynalite"] = run_next_benchmark(app_module, sizes, texts, args.annotators, args.rounds)
            print("dynalite", report["next"]["dynalite"], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(report, indent=1))
    print_next_table(report["next"])


def print_next_table(by_backend: dict) -> None:
    print("\n| backend | pool | calls | requests per next (max) | by operation | next median ms | p90 ms "
          "| bare Query median ms | next / bare |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backend, by_size in by_backend.items():
        for size in sorted(by_size):
            r = by_size[size]
            ops = "; ".join(", ".join(f"{k} {v}" for k, v in c.items()) for c in r["requests_per_call"])
            print(f"| {backend} | {size} | {r['calls']} | {r['max_requests']} | {ops} | {r['next_median_ms']} "
                  f"| {r['next_p90_ms']} | {r['bare_query_median_ms']} | {r['next_in_bare_queries']} |")
    for backend, by_size in by_backend.items():
        sizes = sorted(by_size)
        if len(sizes) >= 2:
            small, large = by_size[sizes[0]], by_size[sizes[-1]]
            same = small["requests_by_lock_depth"] == large["requests_by_lock_depth"]
            print(f"{backend}: median latency ratio {sizes[-1]} vs {sizes[0]} tasks = "
                  f"{large['next_median_ms'] / small['next_median_ms']:.2f}; bare Query ratio "
                  f"{large['bare_query_median_ms'] / small['bare_query_median_ms']:.2f}; requests per call "
                  f"{'identical' if same else 'DIFFERENT'} call by call")


if __name__ == "__main__":
    main()
