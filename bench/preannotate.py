"""Benchmark: pre-annotating a whole project through the SQS fan-out (issue 16).

    .venv/bin/python bench/preannotate.py --tasks 100000            # the issue's run (about 30 min on moto)
    .venv/bin/python bench/preannotate.py --tasks 10000 --out preannotate_10k.json

Runs the real app's handlers on embedded moto (`mock_aws`) with the real event pump (the one
`make serve` uses). The pool is written with the store's batch writer (bench/next_task.py
`fill_pool`), a text model trained on 60 SMS labels is promoted, and `POST /predictions`' service
(`rescoring.start_preannotation`) queues the job; the pump drains the fan-out.

Reported: wall and process CPU time, messages (against the tree `rescoring.split` gives),
predictions stored (counted in the table, and as the job reports them: both must equal the tasks),
the job's state, and per chunk: the fan-out's throughput against the in-process limit measured in
the same run on the same model and the same chunk of tasks (encode + predict + Label Studio
result items, no store): what the leaf's reads and writes cost on top of predicting.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

RESULTS = ROOT / "bench" / "results"


def in_process_limit(project_id: str, version: int, chunk: int, rounds: int = 3) -> float:
    """Tasks per second of the leaf's predicting alone (model from the warm cache, no store)."""
    from chalicelib.services import prediction
    from chalicelib.store import tasks as task_db

    model = prediction.load_version(project_id, version)
    tasks = task_db.rescoring_tasks_in_range(project_id, 1, chunk)
    data = [t.data for t in tasks]
    timings = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        inputs = model.inputs(data)
        [model.result_items(label, score) for label, score in model.scored(inputs)]
        timings.append(time.perf_counter() - t0)
    return len(data) / statistics.median(timings)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--out", default="preannotate.json", help="result file name in bench/results/")
    args = parser.parse_args(argv)
    from next_task import env_setup, fanout_messages, fill_pool, train_and_promote

    env_setup()
    from moto import mock_aws

    with mock_aws():
        from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_spam
        from chalicelib.local.resources import create_resources
        from chalicelib.store.models import bind_tables

        env = create_resources("activelabel-bench")
        os.environ.update(env)
        os.environ["ACTIVELABEL_RESCORE_CHUNK"] = str(args.chunk)
        bind_tables()
        import app as app_module
        from chalicelib.local.pump import EventPump
        from chalicelib.services import rescoring
        from chalicelib.store import jobs
        from chalicelib.store import projects as project_db
        from chalicelib.store.models import TaskModel

        texts = [r["text"] for r in sms_spam()]
        project = project_db.create_project("preannotate", SMS_LABEL_CONFIG,
                                            {"model": "text_classifier", "sampling": "random"})
        project_id = project.project_id
        t0 = time.perf_counter()
        fill_pool(project_id, args.tasks, texts, seed=7)
        print(f"pool of {args.tasks} tasks written in {time.perf_counter() - t0:.1f} s", flush=True)
        version = train_and_promote(project_id)
        limit = in_process_limit(project_id, version, args.chunk)
        pump = EventPump(app_module.app, env)
        started, cpu_started = time.perf_counter(), time.process_time()
        job = rescoring.start_preannotation(project_id)
        pump.drain(timeout=7200)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        stored = sum(1 for t in TaskModel.query(project_id, attributes_to_get=["task_id", "preannotation"])
                     if t.preannotation and t.preannotation.get("model_version") == f"v{version}")
        final = jobs.find(project_id, job.sk)
        splits, chunks = fanout_messages(args.tasks, args.chunk)
        messages = pump.delivered["rescore_worker"]
        fanout_rate = args.tasks / wall
        report = {
            "tasks": args.tasks, "chunk_size": args.chunk, "messages": messages, "splitting_messages": splits,
            "chunks": chunks, "fanout_as_computed": messages == splits + chunks,
            "predictions_stored": stored, "job": {"state": final.state, "done": int(final.done),
                                                  "total": int(final.total), "stored": int(final.stored)},
            "dead_letters": len(pump.dead_letters), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "fanout_tasks_per_s": round(fanout_rate, 1),
            "in_process_predict_tasks_per_s": round(limit, 1),
            "fanout_over_in_process": round(fanout_rate / limit, 4),
            "note": "one process: moto, the pump and every leaf share this machine's cores; moto's range Query "
                    "reads the whole table (bench/results/README.md, rescoring)",
        }
    print(json.dumps(report, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
