"""Rollback and pin: make any stored model version the active one.

The version's artifact is re-checked first (fetched by its S3 VersionId, its sha256 compared with
the record, its scikit-learn version with this function's), so a version whose artifact was
tampered with, or that this deployment cannot load, is refused (409) and nothing changes. The check
loads the model into the warm container's cache (keyed by S3 VersionId), so predictions of the
version are served from the next request on.

`ml.pinned_version` stops automatic promotion (services/promotion.py holds new versions): setting
it activates that version; activating another version of a pinned project moves the pin with it.
Rollback does not rescore the pool: the newer version's priorities keep ordering `GET /next` until
the next promotion (a rescoring writes only scores of a version at least as new as the task's).
"""
import logging

from chalicelib.errors import ArtifactIntegrityError, ConflictError, NotFoundError, ValidationError
from chalicelib.ml import serving
from chalicelib.services import prediction, rescoring
from chalicelib.store import model_registry
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.model_versions")


def parse_version(value, field: str = "version") -> int:
    """"v3" or "3" (or 3) -> 3; 400 naming `field` otherwise."""
    text = str(value)
    number = text[1:] if text.startswith("v") else text
    if isinstance(value, bool) or not number.isdigit() or not 1 <= int(number) <= 1_000_000_000:
        raise ValidationError(field, f"must be a model version such as 'v3' or 3, got {value!r}")
    return int(number)


def checked_version(project_id: str, version: int, field: str = "version"):
    """The version's record, after its artifact passed the checks (404 / 409 naming `field`)."""
    item = training_db.get_model_version(project_id, version)
    if item is None:
        raise NotFoundError(f"project {project_id} has no model version v{version}", field)
    try:
        serving.load(item.pointer, prediction.fetch)
    except ArtifactIntegrityError as exc:
        raise ConflictError(f"model version v{version} cannot be activated: {exc.message}", field) from None
    return item


def activate(project_id: str, version_param, body: dict) -> dict:
    """`PUT .../model-versions/{version}/active`: body {"pin": true | false}, optional."""
    version = parse_version(version_param)
    unknown = set(body) - {"pin"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field; expected only 'pin'")
    pin = body.get("pin")
    if pin is not None and not isinstance(pin, bool):
        raise ValidationError("pin", f"must be true or false, got {pin!r}")
    project = project_db.get_project(project_id, consistent=True)
    item = checked_version(project_id, version)
    ml = dict(project.ml)
    pinned = ml.get("pinned_version")
    if pin is True or (pin is None and pinned is not None):
        ml["pinned_version"] = version
    elif pin is False:
        ml["pinned_version"] = None
    if ml.get("pinned_version") != pinned:
        project_db.update_project(project_id, ml=ml)
    previous = project.model_version
    make_active(project_id, item, previous, ml)
    log.info("project %s: %s made active by hand (was %s; pinned %s)", project_id, item.model_version, previous,
             ml.get("pinned_version"))
    return {"model_version": item.model_version, "previous": previous, "pinned_version": ml.get("pinned_version")}


def make_active(project_id: str, item, previous: str | None, ml: dict) -> None:
    """Move the pointer; with `ml.preannotate`, pre-annotate the project with the version."""
    model_registry.activate(project_id, item)
    if ml.get("preannotate", True) and previous != item.model_version:
        rescoring.start_preannotation(project_id)


def pin_changed(project, ml: dict):
    """Before settings with a new `pinned_version` are stored: the record of the version to activate
    (checked), or None when the pin is unchanged or unset."""
    version = ml.get("pinned_version")
    if version is None or version == project.ml.get("pinned_version"):
        return None
    return checked_version(project.project_id, version, "ml.pinned_version")
