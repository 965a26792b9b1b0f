"""The rescore queue's handler: each message is one job type (rescore, preannotate, rejudge,
backfill: a range of task ids, services/rescoring.py; suspects: services/suspects.py), and the
command that queues the random-key migration (services/migrations/random_keys.py)."""
import argparse

from chalicelib.events.batch import process_batch
from chalicelib.services import rescoring
from chalicelib.services.migrations import random_keys
from chalicelib.store import queue
from chalicelib.telemetry import context, edge


def handle_message(body: str) -> str:
    request = queue.parse_rescore_request(body)
    context.annotate(project_id=request["project_id"], job_id=request["job"], model_version=f"v{request['version']}")
    return rescoring.handle_request(**request)


def handle_rescore_batch(event) -> dict:
    """Chalice SQSEvent -> partial batch response."""
    return process_batch(
        event,
        lambda record: handle_message(record.body),
        identifier=lambda record: record.to_dict()["messageId"],
        ordered=False,
        function="rescore_worker",
        correlation_of=lambda record: edge.from_message(record.body),
    )


def main(argv=None) -> int:
    """`python -m chalicelib.events.rescoring backfill PROJECT_ID...`: queue random-key backfills."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.events.rescoring", description=main.__doc__)
    parser.add_argument("command", choices=["backfill"])
    parser.add_argument("project_ids", nargs="+", metavar="PROJECT_ID")
    args = parser.parse_args(argv)
    for project_id in args.project_ids:
        print(project_id, "queued" if random_keys.start(project_id, rescoring.chunk_size()) else "has no tasks (or does not exist)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
