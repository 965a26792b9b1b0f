"""The hourly retraining schedule: one sweep of services/training_requests.py (reason `schedule`):
retrain projects whose accepted labels are newer than their model, and re-send training requests
whose message was never sent or was lost (pending for over 15 minutes)."""
from chalicelib.services import training_requests
from chalicelib.telemetry import edge


def run_schedule(lambda_context=None) -> dict:
    with edge.invocation(lambda_context, "retrain_schedule"), edge.record(None):
        return training_requests.sweep()
