"""Fixtures for the local runtime: moto's mock_aws, the resources, and a throwaway Chalice app.

app.py is not used here: a tiny app with the same function names (`on_completion`,
`train_worker`, `retrain_schedule`) records what it receives, and each test sets its
behaviour through `hooks`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from chalicelib import config  # noqa: E402

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "ACTIVELABEL_STAGE": "local",
}


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def aws(fake_aws_env: None):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from chalicelib.local.resources import create_resources

    created = create_resources("activelabel-local")
    for key, value in created.items():
        monkeypatch.setenv(key, value)
    return created


class Recorder:
    """What the throwaway app's handlers received, and how they should answer."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {"on_completion": [], "train_worker": [],
                                            "retrain_schedule": []}
        self.hooks: dict[str, Callable[[Any, list[Any]], Any]] = {}

    def handle(self, name: str, event: Any, records: list[Any]) -> Any:
        self.calls[name].append(records)
        hook = self.hooks.get(name)
        return hook(event, records) if hook else None


def make_app(env: dict[str, str], recorder: Recorder):
    from chalice import Chalice, Rate

    app = Chalice("t")

    @app.route("/ping")
    def ping():
        return {"pong": True}

    @app.on_dynamodb_record(stream_arn=env[config.COMPLETIONS_STREAM_ENV], batch_size=100)
    def on_completion(event):
        return recorder.handle("on_completion", event, list(event))

    @app.on_sqs_message(queue=env[config.TRAIN_QUEUE_NAME_ENV], batch_size=1)
    def train_worker(event):
        return recorder.handle("train_worker", event, list(event))

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def retrain_schedule(event):
        return recorder.handle("retrain_schedule", event, [event])

    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app_factory() -> Callable[[dict[str, str], Recorder], Any]:
    """`make_app` itself, for tests that build the app later (after the env is set)."""
    return make_app


@pytest.fixture
def pump(env: dict[str, str], recorder: Recorder):
    from chalicelib.local.pump import EventPump

    return EventPump(make_app(env, recorder), env, record_deliveries=True)
