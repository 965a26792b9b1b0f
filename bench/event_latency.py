"""How long from a completion write to its stream handler having counted it, on the local stack.

API.md promises events "within a second of the write". This measures it: N completions posted over
HTTP one at a time; after each, /training is polled (every 10 ms) until the stream handler has
counted it. Baseline, measured in the same run: the handler itself, re-invoked in-process with the
very events the pump delivered (redelivery is a no-op by design, so this times the handler's reads
and its idempotency checks, not the pump). The ratio shows what polling the stream adds.

    .venv/bin/python bench/event_latency.py [--n 30]
"""
import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="completions to time (default 30)")
    args = parser.parse_args(argv)

    from activelabel_client.client import ActivelabelClient
    from activelabel_client.datasets import SMS_LABEL_CONFIG, choice_completion
    from chalicelib.local.server import start_stack

    with start_stack(port=0, record_deliveries=True, schedule_every=None) as stack, \
            ActivelabelClient(stack.url, stack.admin_token) as api:
        project = api.create_project("latency", SMS_LABEL_CONFIG, ml={"min_completions": 10_000})["id"]
        task_ids = api.import_tasks(project, [{"data": {"text": f"message {i}"}} for i in range(args.n)],
                                    progress=False)
        delivery = []
        for count, task_id in enumerate(task_ids, start=1):
            completion = choice_completion("ham", "bench")
            api.add_completion(project, task_id, completion["result"], completion["completed_by"])
            start = time.perf_counter()
            while api.training(project)["completions"] < count:
                if time.perf_counter() - start > 30:
                    raise SystemExit(f"completion {count} not counted within 30 s")
                time.sleep(0.01)
            delivery.append(time.perf_counter() - start)

        batches = [copy.deepcopy(b) for b in stack.pump.delivered_stream_batches]
        handler = []
        for batch in batches:
            per_record = len(batch["Records"])
            start = time.perf_counter()
            stack.pump.invoke("on_completion", copy.deepcopy(batch))
            handler.append((time.perf_counter() - start) / per_record)

    row = {
        "n": args.n,
        "delivery_median_ms": round(statistics.median(delivery) * 1000, 1),
        "delivery_p90_ms": round(percentile(delivery, 0.9) * 1000, 1),
        "delivery_max_ms": round(max(delivery) * 1000, 1),
        "handler_median_ms": round(statistics.median(handler) * 1000, 1),
    }
    row["ratio"] = round(row["delivery_median_ms"] / row["handler_median_ms"], 1)
    print(f"write -> counted by the stream handler, {args.n} completions on the local stack")
    print(f"  delivery median {row['delivery_median_ms']} ms, p90 {row['delivery_p90_ms']} ms, "
          f"max {row['delivery_max_ms']} ms")
    print(f"  baseline (handler alone, per record) median {row['handler_median_ms']} ms; ratio {row['ratio']}x")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "event_latency.json").write_text(json.dumps(row, indent=2))
    return row


if __name__ == "__main__":
    main()
