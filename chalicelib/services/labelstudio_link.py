"""Link Label Studio projects to ours (`/setup`, and the project any /ls/ call names).

A Label Studio project (`"<id>.<created_ts>"`) is linked to an activelabel project: a project
credential names it; the deployment credential creates one from the label config (`schema`) on
first contact. `/setup` also stores the hostname and the access token (AES-GCM encrypted, see
labelstudio/crypto.py) and follows changes of the label config. Links are ledger items
(store/labelstudio.py).
"""
import logging

from chalicelib.domain.settings import merge_settings
from chalicelib.errors import LabelConfigError, NotFoundError, ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labelstudio import client, crypto, net, protocol
from chalicelib.services.prediction import is_custom, model_version
from chalicelib.services.projects import available_models
from chalicelib.store import dynamo, ledger
from chalicelib.store import labelstudio as links
from chalicelib.store import projects as project_db
from chalicelib.store import training as training_db

log = logging.getLogger("activelabel.services.labelstudio_link")


def _parse_schema(schema: str | None):
    if not schema:
        return None
    try:
        return parse_label_config(schema)
    except LabelConfigError as exc:
        log.info("setup: label config not usable yet (%s)", exc.message)
        return None


def link_new(conn, key: str, schema: str | None):
    """First contact with the deployment credential: create the project from `schema`."""
    config = _parse_schema(schema)
    if config is None:
        return None  # e.g. a new Label Studio project still on `<View></View>`: link it later
    candidate = str(ledger.next_counter("projects"))
    project_id = links.claim_link(conn.user, key, candidate)  # a concurrent /setup may have won
    ml = merge_settings(None, None, available_models(config))
    number = protocol.ls_project_number(key)
    project = project_db.create_project(f"Label Studio project {number}", schema, ml, project_id=project_id)
    links.set_link(conn.user, f"#{number}", project_id)
    log.info("setup: Label Studio project %s linked to new project %s", key, project_id)
    return project


def resolve(conn, key: str | None):
    """The linked project, or None (no project named, or not linked yet)."""
    if conn.project_id is not None:
        return project_db.find_project(conn.project_id)
    if key is None:
        return None
    project_id = links.find_link(conn.user, key)
    return project_db.find_project(project_id) if project_id else None


def resolve_number(conn, number: str | None):
    """The same, from the bare project number webhooks carry."""
    return resolve(conn, None if number is None else f"#{number}")


def _adopt_schema(project, schema: str | None) -> None:
    """Label Studio owns the label config of a linked project: follow its changes when they parse."""
    if not schema or schema == project.label_config:
        return
    config = _parse_schema(schema)
    if config is None:
        return
    models = available_models(config)
    ml = dict(project.ml)
    if ml.get("model") not in models + ["custom"]:
        ml["model"] = None
    project_db.update_project(project.project_id, label_config=schema, ml=merge_settings(ml, None, models))


def _store_credentials(project, key: str, body: dict) -> None:
    hostname, token = body.get("hostname"), body.get("access_token")
    extra = body.get("extra_params")
    if not isinstance(hostname, str) or not isinstance(token, str) or not hostname or not token:
        return
    digest = crypto.fingerprint(key, hostname, token, repr(extra))
    if (project.ls_link or {}).get("fingerprint") == digest:
        return  # /setup runs before every prediction batch: write only on change
    try:
        net.check_url(hostname, "hostname")  # the outbound guard every later pull goes through
    except ValidationError as exc:
        # predictions still work; pulls never go there (not linked), and /training says why
        training_db.record_training_error(project.project_id, f"Label Studio hostname refused: {exc.message}")
        hostname = None
    project_db.save_connection(project.project_id, {
        "ls_project": key,
        "hostname": hostname,
        "access_token": crypto.encrypt(token, f"project:{project.project_id}"),
        "extra_params": extra if isinstance(extra, dict) else None,
        "fingerprint": digest,
        "linked_at": dynamo.now().isoformat(),
        **({"stream_restore": project.ls_link["stream_restore"]}  # services/labelstudio_stream.py
           if (project.ls_link or {}).get("stream_restore") else {}),
    })


def _setup_version(project) -> str:
    """What /setup answers: our promoted version, or a custom backend's own (so that /setup and the
    predictions, which come from that backend, carry the same string)."""
    if not is_custom(project):
        return model_version(project)
    try:
        return client.backend_for(project).setup()
    except (net.UpstreamError, ValidationError) as exc:
        log.info("setup: custom backend of project %s not answering (%s)", project.project_id, exc.message)
        return protocol.UNTRAINED_VERSION


def setup(conn, key: str | None, body: dict) -> str:
    """Link (or create) the project `key` names and store its connection; returns the model version."""
    schema = protocol.setup_schema(body)
    project = resolve(conn, key)
    if conn.project_id is not None and project is None:
        raise NotFoundError(f"project {conn.project_id} not found", "project")
    if project is None and key is not None:
        project = link_new(conn, key, schema)
    if project is None:
        return protocol.UNTRAINED_VERSION
    if key is not None:
        number = protocol.ls_project_number(key)
        if conn.project_id is not None and links.find_link(conn.user, f"#{number}") is None:
            links.set_link(conn.user, f"#{number}", project.project_id)
        if links.find_link(conn.user, "#last") != project.project_id:
            links.set_link(conn.user, "#last", project.project_id)
        _adopt_schema(project, schema)
        _store_credentials(project, key, body)
    return _setup_version(project)


def versions(conn, project_param: str | None) -> dict:
    """`GET /versions`: the project's model versions (the one named, or the last one linked)."""
    if project_param:
        project = resolve(conn, protocol.ls_project_key(project_param)) \
            or resolve_number(conn, protocol.ls_project_number(project_param))
    elif conn.project_id is not None:
        project = project_db.find_project(conn.project_id)
    else:
        last = links.find_link(conn.user, "#last")
        project = project_db.find_project(last) if last else None
    if project is None:
        return {"versions": [protocol.UNTRAINED_VERSION]}
    found = [v.model_version for v in training_db.list_model_versions(project.project_id)]
    return {"versions": found or [protocol.UNTRAINED_VERSION], "current_version": model_version(project)}
