"""Rollback and pin: make any stored model version the active one.

The version's artifact is re-checked first (fetched by its S3 VersionId, its sha256 compared with
the record, its scikit-learn version with this function's), so a version whose artifact was
tampered with, or that this deployment cannot load, is refused (409) and nothing changes. The check
loads the model into the warm container's cache (keyed by S3 VersionId), so predictions of the
version are served from the next request on.

`ml.pinned_version` stops automatic promotion (services/promotion.py holds new versions): setting
it activates that version; activating another version of a pinned project moves the pin with it.
Each move by hand is numbered (store/model_registry.activate); with `ml.preannotate` it starts a
pre-annotation pass of the version over the whole project, a job named after the move. Rollback does
not rescore the pool: the newer version's priorities keep ordering `GET /next` until the next
promotion (a rescoring writes only scores of a version at least as new as the task's).
"""
import logging

from chalicelib.errors import ArtifactIntegrityError, ConflictError, NotFoundError, ValidationError
from chalicelib.ml import serving
from chalicelib.services import labelstudio_stream, prediction, rescoring
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
    job = make_active(project_id, item, ml)
    log.info("project %s: %s made active by hand (was %s; pinned %s; pre-annotation job %s)", project_id,
             item.model_version, previous, ml.get("pinned_version"), job)
    return {"model_version": item.model_version, "previous": previous, "pinned_version": ml.get("pinned_version"),
            "preannotation_job": job}


def make_active(project_id: str, item, ml: dict) -> str | None:
    """Move the pointer to `item`; with `ml.preannotate`, start the pre-annotation pass of this move
    (a job named after the move, `preannotation-v<n>-a<move>`), and with `ml.auto_label` set its
    re-judging pass (`rescoring-v<n>-a<move>`). Returns the pre-annotation pass's job id.

    Idempotent: a retried request finds the version active and its move recorded, and starts the
    move's job only if the first request stopped before it was sent (rescoring.start_move_preannotation).
    A version that is active through a promotion is left as it is: the promotion's own job predicts."""
    move = model_registry.activate(project_id, item)
    if move is None:
        project = project_db.get_project(project_id, consistent=True)
        if (project.active_version, project.activation_version) != (item.version, item.version) \
                or not project.activation_seq:
            return None
        move = project.activation_seq
    labelstudio_stream.follow(project_db.get_project(project_id), f"move-{move}")  # Label Studio's model_version
    if ml.get("auto_label") is not None:  # the version moved to re-judges the auto labels standing
        rescoring.start_move_rejudging(project_id, item.version, move)
    if not ml.get("preannotate", True):
        return None
    return rescoring.start_move_preannotation(project_id, item.version, move)


def pin_changed(project, ml: dict):
    """Before settings with a `pinned_version` are stored: the record of the version to activate
    (checked), or None when the pin is unset, or set and already the active version."""
    version = ml.get("pinned_version")
    if version is None or (version == project.ml.get("pinned_version") and project.active_version == version):
        return None
    return checked_version(project.project_id, version, "ml.pinned_version")


def follow_pin(project, pinned, ml: dict, pin_asked: bool) -> str | None:
    """After the settings are stored: activate `pinned` (from `pin_changed`). A request that names
    `pinned_version` again (`pin_asked`), with the pin unchanged and the pin's move by hand the last
    one, finishes that move if a first request stopped before its pre-annotation pass was sent (a
    retried PUT); the artifact is not checked again then. Other settings changes start nothing."""
    if pinned is not None:
        return make_active(project.project_id, pinned, ml)
    version = ml.get("pinned_version")
    if not pin_asked or version is None or not ml.get("preannotate", True) or not project.activation_seq \
            or (project.active_version, project.activation_version) != (version, version):
        return None
    return rescoring.start_move_preannotation(project.project_id, version, project.activation_seq)
