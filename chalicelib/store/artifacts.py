"""Model artifacts in S3: written once per version, read back by VersionId after a digest check.

A version has a joblib pickle (model.joblib) and, for kinds that have one, its numpy form
(model.npz, chalicelib/ml/numpy_form/). joblib/pickle loading executes code, so an artifact is
loaded only from our own bucket, by the VersionId recorded in DynamoDB, and only if its sha256
matches the digest recorded there; the numpy form, loaded without pickle, goes through the same checks.
"""
import base64
import hashlib
import json
from dataclasses import dataclass

from chalicelib import config
from chalicelib.errors import ArtifactIntegrityError
from chalicelib.store.aws import client


@dataclass(frozen=True)
class StoredArtifact:
    bucket: str
    key: str
    version_id: str
    sha256: str
    size: int


def artifact_key(project_id: str, version: int, name: str = "model.joblib") -> str:
    return f"models/{project_id}/v{version}/{name}"


def put_artifact(key: str, body: bytes, metadata: dict[str, str]) -> StoredArtifact:
    digest = hashlib.sha256(body).digest()
    bucket = config.model_bucket()
    answer = client("s3").put_object(
        Bucket=bucket, Key=key, Body=body,
        ChecksumSHA256=base64.b64encode(digest).decode(),
        Metadata=metadata,
        ServerSideEncryption="AES256",
    )
    version_id = answer.get("VersionId")
    if not version_id:
        raise ArtifactIntegrityError(f"bucket {bucket} is not versioned: refusing to record an unversioned model")
    return StoredArtifact(bucket, key, version_id, digest.hex(), len(body))


def put_json(project_id: str, version: int, name: str, document: dict) -> StoredArtifact:
    """A JSON document kept beside version `version`'s model (`models/<project>/v<n>/<name>`)."""
    return put_artifact(artifact_key(project_id, version, name), json.dumps(document, separators=(",", ":")).encode(),
                        {"project-id": str(project_id), "model-version": f"v{version}"})


def get_artifact(bucket: str, key: str, version_id: str, sha256: str) -> bytes:
    if bucket != config.model_bucket():
        raise ArtifactIntegrityError(f"refusing to load a model from bucket {bucket!r}: not this deployment's bucket")
    body = client("s3").get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read()
    actual = hashlib.sha256(body).hexdigest()
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"model artifact s3://{bucket}/{key}?versionId={version_id} has sha256 {actual}, "
            f"recorded {sha256}: refusing to load it"
        )
    return body
