"""A version's predictions on the validation set, kept beside its model
(`models/<project>/v<n>/validation-predictions.json`, JSON: no code runs on reading it), so that
the next training's champion / challenger reads the champion's side instead of predicting the
whole validation set again (services/promotion.py).

A missing or unreadable document is not an error: the champion then predicts, as before.
"""
import json
import logging

from botocore.exceptions import ClientError

from chalicelib import config
from chalicelib.store import artifacts
from chalicelib.store.aws import client

log = logging.getLogger("activelabel.store.validation_predictions")

NAME = "validation-predictions.json"


def key(project_id: str, version: int) -> str:
    return artifacts.artifact_key(project_id, version, NAME)


def put(project_id: str, version: int, document: dict) -> None:
    artifacts.put_json(project_id, version, NAME, document)


def get(project_id: str, version: int) -> dict | None:
    try:
        body = client("s3").get_object(Bucket=config.model_bucket(), Key=key(project_id, version))["Body"].read()
    except ClientError as exc:  # missing (versions trained before these were kept), or not readable
        log.info("project %s: no validation predictions for v%s (%s)", project_id, version,
                 exc.response.get("Error", {}).get("Code"))
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("predictions"), dict) else None
