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
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.model_versions")


def parse_version(value, field: str = "version") -> int:
    """"v3" or "3" (or 3) -> 3; 400 naming `field` otherwise."""
    text = str(value)
    number = text[1:] if text.startswith("v") else text
    if isinstance(value, bool) or not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= 1_000_000_000:
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


WRITE_ATTEMPTS = 8


def write_settings(project_id: str, compute):
    """Read the project, `compute(project)` -> (fields to set, version to move the pointer to by hand
    or None), and write both in one write conditioned on the revision read (store/projects.
    write_settings); on a conflict read again and recompute, so concurrent partial writes all land.
    Returns (the project as read, as written); 409 after WRITE_ATTEMPTS conflicts in a row."""
    for _ in range(WRITE_ATTEMPTS):
        project = project_db.get_project(project_id, consistent=True)
        fields, move = compute(project)
        if move is not None and project.active_version == move.version:
            move = None
        if not fields and move is None:
            return project, project
        written = project_db.write_settings(project, move, **fields)
        if written is not None:
            return project, written
    raise ConflictError(f"project {project_id}'s settings changed under this request {WRITE_ATTEMPTS} times "
                        "in a row; send it again", "ml")


def activate(project_id: str, version_param, body: dict) -> dict:
    """`PUT .../model-versions/{version}/active`: body {"pin": true | false}, optional."""
    version = parse_version(version_param)
    unknown = set(body) - {"pin"}
    if unknown:
        raise ValidationError(sorted(unknown)[0], "unknown field; expected only 'pin'")
    pin = body.get("pin")
    if pin is not None and not isinstance(pin, bool):
        raise ValidationError("pin", f"must be true or false, got {pin!r}")
    project_db.get_project(project_id)
    item = checked_version(project_id, version)

    def pinned_and_moved(project):
        ml = dict(project.ml)
        pinned = ml.get("pinned_version")
        if pin is True or (pin is None and pinned is not None):
            ml["pinned_version"] = version
        elif pin is False:
            ml["pinned_version"] = None
        return ({"ml": ml} if ml.get("pinned_version") != pinned else {}), item

    before, after = write_settings(project_id, pinned_and_moved)
    job = start_move_jobs(after, version)
    log.info("project %s: %s made active by hand (was %s; pinned %s; pre-annotation job %s)", project_id,
             item.model_version, before.model_version, after.ml.get("pinned_version"), job)
    return {"model_version": item.model_version, "previous": before.model_version,
            "pinned_version": after.ml.get("pinned_version"), "preannotation_job": job}


def start_move_jobs(project, version: int) -> str | None:
    """After the pointer was moved to `version` by hand (`project` as written): with `ml.auto_label`
    the move's re-judging pass (`rescoring-v<n>-a<move>`), with `ml.preannotate` its pre-annotation
    pass (`preannotation-v<n>-a<move>`, returned). Idempotent: a retried request finds the version
    active and its move recorded, and starts a pass only if the first request stopped before it was
    sent (rescoring._start_move_pass). A version that is active through a promotion is left as it
    is: the promotion's own job predicts."""
    move = project.activation_seq
    if (project.active_version, project.activation_version) != (version, version) or not move:
        return None
    ml = project.ml
    labelstudio_stream.follow(project, f"move-{move}")  # Label Studio's model_version
    if ml.get("auto_label") is not None:  # the version moved to re-judges the auto labels standing
        rescoring.start_move_rejudging(project.project_id, version, move)
    if not ml.get("preannotate", True):
        return None
    return rescoring.start_move_preannotation(project.project_id, version, move)


def pin_changed(project, ml: dict):
    """The record of the version settings `ml` pin and `project` (as read) does not have pinned and
    active yet (its artifact checked), or None."""
    version = ml.get("pinned_version")
    if version is None or (version == project.ml.get("pinned_version") and project.active_version == version):
        return None
    return checked_version(project.project_id, version, "ml.pinned_version")


def follow_pin(before, after, pin_asked: bool) -> str | None:
    """After settings were written: the passes of a pin that moved the pointer, or of a request that
    names `pinned_version` again (`pin_asked`) whose move was the last one by hand (a retried PUT
    whose first attempt stopped before its pass was sent). Other settings changes start nothing."""
    version = after.ml.get("pinned_version")
    if version is None or not (pin_asked or after.activation_seq != before.activation_seq):
        return None
    return start_move_jobs(after, version)
