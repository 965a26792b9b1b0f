"""boto3 clients, created lazily and cached per warm container."""
import os

_clients: dict = {}


def client(service: str):
    key = (service, os.environ.get("AWS_ENDPOINT_URL"))
    if key not in _clients:
        import boto3
        from botocore.config import Config

        from chalicelib import config

        _clients[key] = boto3.client(
            service, region_name=config.region(),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
    return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that start a new moto mock call this)."""
    _clients.clear()
