"""boto3 clients, created lazily and cached per warm container. boto3 is imported inside `client`
only when a first client is made: it costs about 0.1 s at import (cold start), which routes that
never call AWS directly (`/ls/health`, every DynamoDB call through PynamoDB) need not pay."""
import os

from botocore.config import Config

from chalicelib import config

_clients: dict = {}


def client(service: str):
    key = (service, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _clients:
        import boto3

        _clients[key] = boto3.client(
            service, region_name=config.region(),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
    return _clients[key]


_on_reset: list = []  # what else a reset forgets (store/warm.py registers its caches here)


def on_reset(forget) -> None:
    _on_reset.append(forget)


def reset_clients() -> None:
    """Forget cached clients and the items read through them (tests that start a new moto mock,
    and the local stack when it rebinds the store, call this)."""
    _clients.clear()
    for forget in _on_reset:
        forget()
