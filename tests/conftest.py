"""Shared fixtures: moto as AWS, the resources of infra/resources.yaml, the real app and event pump."""
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Before anything imports chalicelib.store: fake credentials, one region, no real endpoint.
for _key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_key, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "ACTIVELABEL_STAGE": "local",  # default resource names = the stack "activelabel-local" the fixtures create
    "ACTIVELABEL_ADMIN_TOKEN": "test-admin-token",
    "ACTIVELABEL_LS_SECRET": "dGVzdC1vbmx5LWxhYmVsLXN0dWRpby1zZWNyZXQta2V5LTMyYg",  # 32+ bytes, tests only
    "ACTIVELABEL_LS_BASIC_AUTH": "ls-user:ls-pass",
    "ACTIVELABEL_OUTBOUND_ALLOW": "loopback",  # the fake Label Studio and ML backends run on 127.0.0.1
})

# moto as the local stack runs it (chalicelib/local/moto_patches.py, pinned and tested against moto's
# own answers): queries read their partition instead of the whole table, transactions copy only
# their items. In-process tests would otherwise pay for every query by the size of the table.
from chalicelib.local import moto_patches  # noqa: E402

moto_patches.apply()

ADMIN = {"Authorization": "Token test-admin-token", "Content-Type": "application/json"}
FIXTURES = ROOT / "tests" / "fixtures"


def load_fixture(*parts):
    return json.loads((FIXTURES.joinpath(*parts)).read_text())


@pytest.fixture
def aws():
    """moto in-process with every resource of infra/resources.yaml; yields the app's env."""
    from moto import mock_aws

    with mock_aws():
        from chalicelib.local.resources import create_resources
        from chalicelib.ml import serving
        from chalicelib.store import secrets
        from chalicelib.store.aws import reset_clients
        from chalicelib.store.models import bind_tables

        env = create_resources("activelabel-local")  # the names app.py may already have been imported with
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        bind_tables()
        reset_clients()
        serving.clear_cache()
        secrets.clear_cache()
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_clients()
            serving.clear_cache()
            secrets.clear_cache()


@pytest.fixture
def chalice_app(aws):
    import app as app_module

    return app_module.app


class Api:
    """JSON calls to the app through Chalice's test client, as the admin."""

    def __init__(self, client):
        self.client = client

    def call(self, method, path, body=None, headers=None, raw=None):
        payload = raw if raw is not None else (None if body is None else json.dumps(body))
        response = getattr(self.client.http, method.lower())(
            path, headers=ADMIN if headers is None else headers, body=payload)
        try:
            response.json = json.loads(response.body) if response.body else None
        except ValueError:
            response.json = None
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(chalice_app):
    from chalice.test import Client

    with Client(chalice_app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Api(client)


@pytest.fixture
def pump(chalice_app, aws):
    from chalicelib.local.pump import EventPump

    return EventPump(chalice_app, aws, record_deliveries=True)


@pytest.fixture
def atomic_requests(monkeypatch):
    """Make each AWS request atomic, as DynamoDB is, for tests that race threads on in-process moto.

    moto's in-process backend checks a condition and applies an update without a lock, so two
    threads can interleave inside one request, which real DynamoDB never allows. Serialising whole
    requests keeps every interleaving *between* our requests (the races under test) and removes
    only the impossible ones.
    """
    import threading

    import botocore.client

    lock = threading.RLock()
    original = botocore.client.BaseClient._make_api_call

    def atomic(self, operation_name, api_params):
        with lock:
            return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", atomic)
