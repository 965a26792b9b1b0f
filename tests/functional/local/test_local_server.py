"""start_stack: embedded moto server + Chalice's local HTTP server + the pump, over loopback."""
from __future__ import annotations

import os
import threading

import boto3
import pytest
import requests

from chalicelib import config


@pytest.fixture
def stack(fake_aws_env, monkeypatch, recorder, app_factory):
    from chalicelib.local.server import start_stack

    monkeypatch.delenv(config.ADMIN_TOKEN_ENV, raising=False)
    before = dict(os.environ)
    s = start_stack(port=0, app=lambda: app_factory(dict(os.environ), recorder),
                    schedule_every=None, poll_interval=0.05)
    s.recorder = recorder
    try:
        yield s
    finally:
        s.stop()
    # Chalice itself sets AWS_EXECUTION_ENV on a handler's first call, as in Lambda.
    ignored = {"PYTEST_CURRENT_TEST", "AWS_EXECUTION_ENV"}
    after = {k: v for k, v in os.environ.items() if k not in ignored}
    assert after == {k: v for k, v in before.items() if k not in ignored}, "env restored"


def test_stack_serves_http_and_pumps_events(stack):
    assert stack.url.startswith("http://127.0.0.1:")
    assert stack.admin_token and os.environ[config.ADMIN_TOKEN_ENV] == stack.admin_token
    assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint
    assert os.environ["ACTIVELABEL_STAGE"] == "local"
    assert os.environ[config.COMPLETIONS_STREAM_ENV] == stack.env[config.COMPLETIONS_STREAM_ENV]

    with requests.Session() as http:
        r = http.get(f"{stack.url}/ping", timeout=5)
        assert r.status_code == 200 and r.json() == {"pong": True}
        # keep-alive requests on one connection (their latency is measured in bench/predict.py,
        # never asserted in a test)
        for _ in range(10):
            assert http.get(f"{stack.url}/ping", timeout=5).status_code == 200

    got = threading.Event()
    stack.recorder.hooks["on_completion"] = lambda event, records: got.set()
    table = boto3.resource("dynamodb").Table(stack.env["ACTIVELABEL_COMPLETIONS_TABLE"])
    table.put_item(Item={"project_id": "p1", "completion_id": "c1"})
    assert got.wait(15.0), "the pump delivers the write (latency: bench/event_latency.py)"
    (record,) = stack.recorder.calls["on_completion"][0]
    assert record.event_name == "INSERT"
    assert record.event_source_arn == stack.env[config.COMPLETIONS_STREAM_ENV]


def test_unknown_routes_and_methods_get_the_api_error_body(stack):
    with requests.Session() as http:
        for path in ("/nope", "/api/nope/deeper?x=1"):
            r = http.get(f"{stack.url}{path}", timeout=5)
            assert r.status_code == 404
            assert r.json() == {"Code": "NotFoundError",
                                "Message": f"no route for {path.split('?')[0]}", "Field": "path"}
        for method in ("TRACE", "CONNECT", "PROPFIND"):
            r = http.request(method, f"{stack.url}/ping", timeout=5)
            assert r.status_code == 405, method
            assert r.json()["Code"] == "MethodNotAllowedError" and r.json()["Field"] == "method"
        assert http.get(f"{stack.url}/ping", timeout=5).json() == {"pong": True}


def test_a_burst_of_connections_is_not_reset(stack):
    """50 connections opened at once are all accepted (the listen backlog holds them)."""
    import socket

    host, port = stack.host, stack.port
    sockets = []
    try:
        for _ in range(50):  # no request yet: each connection waits in the listen queue
            s = socket.socket()
            sockets.append(s)
            s.settimeout(0.5)  # a dropped SYN is retried after 1 s: fail instead
            s.connect((host, port))
            s.settimeout(10)
        for s in sockets:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = []
        for s in sockets:
            data = b""
            while b"pong" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            answers.append(data.split(b"\r\n", 1)[0])
    finally:
        for s in sockets:
            s.close()
    assert answers == [b"HTTP/1.1 200 OK"] * 50
