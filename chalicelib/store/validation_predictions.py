"""A version's predictions on the validation set, kept beside its model
(`models/<project>/v<n>/validation-predictions.json`, JSON: no code runs on reading it), so that
the next training's champion / challenger reads the champion's side instead of predicting the
whole validation set again (services/promotion.py).

It is read only by the S3 VersionId and sha256 the version's record keeps (as the model itself:
store/artifacts.py), so rewriting the object in the bucket changes nothing. A missing, changed or
unreadable document is not an error: the champion then predicts, as before.
"""
import json
import logging

from botocore.exceptions import ClientError

from chalicelib import config
from chalicelib.errors import ArtifactIntegrityError
from chalicelib.store import artifacts

log = logging.getLogger("activelabel.store.validation_predictions")

NAME = "validation-predictions.json"


def key(project_id: str, version: int) -> str:
    return artifacts.artifact_key(project_id, version, NAME)


def put(project_id: str, version: int, document: dict) -> dict:
    """Store the document; returns where it is ({"key", "version_id", "sha256"}), which the version's
    record keeps (`validation.predictions`) so that it is read back by VersionId and digest."""
    stored = artifacts.put_json(project_id, version, NAME, document)
    return {"key": stored.key, "version_id": stored.version_id, "sha256": stored.sha256}


def get(record) -> dict | None:
    """The predictions of the model version `record` on its validation set, read by the VersionId
    its record names and checked against its sha256; None when the record names none (trained
    before these were recorded) or the object is missing, changed or unreadable (the champion
    then predicts)."""
    where = (record.validation or {}).get("predictions") if record is not None else None
    if not isinstance(where, dict):
        return None
    try:
        body = artifacts.get_artifact(config.model_bucket(), where["key"], where["version_id"], where["sha256"])
    except (ClientError, ArtifactIntegrityError, KeyError) as exc:
        log.warning("project %s: the validation predictions of v%s are not usable (%s); the champion predicts",
                    record.project_id, record.version, getattr(exc, "message", None) or type(exc).__name__)
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("predictions"), dict) else None
