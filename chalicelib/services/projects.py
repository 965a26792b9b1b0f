"""Projects and their settings: create, list, read, change (title, label config, ML settings),
delete, the models that fit, and what Label Studio needs to connect.

ML settings are merged onto the defaults and validated (domain/settings.py); the chosen model must
be able to learn the chosen control; a custom backend's password is stored encrypted and a changed
backend is checked as Label Studio checks one (/health then /setup).
"""
from chalicelib.domain.settings import auto_label_settings, merge_settings
from chalicelib.errors import ValidationError
from chalicelib.labeling.config import parse_label_config
from chalicelib.labelstudio import client
from chalicelib.labelstudio.auth import basic_header, project_credential
from chalicelib.ml import registry
from chalicelib.services import labelstudio_stream, model_versions, rescoring
from chalicelib.store import dynamo
from chalicelib.store import projects as project_db

MAX_TITLE = 500
PATCHABLE = {"title", "label_config", "ml"}


def _check_fields(body: dict) -> None:
    unknown = set(body) - PATCHABLE
    if unknown:
        raise ValidationError(sorted(unknown)[0], f"unknown field; known: {sorted(PATCHABLE)}")


def _title(value) -> str:
    if not isinstance(value, str) or len(value) > MAX_TITLE:
        raise ValidationError("title", f"must be a string of at most {MAX_TITLE} characters")
    return value


def _label_config(body: dict):
    xml = body.get("label_config")
    if not isinstance(xml, str) or not xml.strip():
        raise ValidationError("label_config", "is required: the Label Studio labeling config, '<View>...</View>'")
    return xml, parse_label_config(xml)


def available_models(config) -> list[str]:
    return [kind.name for kind in registry.fitting_kinds(config)]


def _check_target(ml: dict, config) -> dict:
    """Raise ValidationError (400, field ml.target) when the chosen model cannot learn the chosen control."""
    kind = registry.get_kind(ml.get("model") or "")
    if kind is not None:
        kind.target(config, ml.get("target"))
    return ml


def _prepare_custom_backend(old_ml: dict | None, ml: dict, project_key: str, label_config: str) -> dict:
    """The settings to store: the custom backend's password encrypted (a masked one sent back keeps
    the stored one) and, when the backend changed, validated as Label Studio does (/health then
    /setup; 400 naming ml.custom_backend.url if not)."""
    ml = client.seal_settings(ml, old_ml)
    if ml.get("model") != "custom":
        return ml
    old = old_ml or {}
    if old.get("model") == "custom" and old.get("custom_backend") == ml.get("custom_backend"):
        return ml
    client.backend_from_settings(ml["custom_backend"], project_key, label_config).check()
    return ml


def create(body: dict):
    _check_fields(body)
    title = _title(body.get("title", ""))
    xml, config = _label_config(body)
    ml = _check_target(merge_settings(None, body.get("ml"), available_models(config)), config)
    ml = _prepare_custom_backend(None, ml, "0.0", xml)
    return project_db.create_project(title, xml, ml)


def _numeric_order(project_id: str) -> tuple[int, str]:
    return len(project_id), project_id


def list_page(project_ids, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """One page of all projects (`project_ids` None) or of those among `project_ids` (a token's
    scope, at most 100, paged the same way: `limit` per page, a cursor after the page's last id)."""
    if project_ids is None:
        return project_db.list_projects(limit, cursor)
    after = (dynamo.decode_cursor(cursor) or {}).get("after_project")
    if cursor and not isinstance(after, str):
        raise ValidationError("cursor", "is not a cursor returned by this API")
    ids = sorted(set(project_ids), key=_numeric_order)
    if after is not None:
        ids = [i for i in ids if _numeric_order(i) > _numeric_order(after)]
    page = ids[:limit]
    projects = project_db.get_projects(page) if page else []
    more = len(ids) > limit
    return projects, dynamo.encode_cursor({"after_project": page[-1]}) if more else None


def get(project_id: str):
    return project_db.get_project(project_id)


def _patched(body: dict, project) -> dict:
    fields = {}
    if "title" in body:
        fields["title"] = _title(body["title"])
    ml = project.ml
    if "label_config" in body:
        xml, config = _label_config(body)
        fields["label_config"] = xml
        models = available_models(config)
        ml = {**ml, "model": ml.get("model") if ml.get("model") in models + ["custom"] else None}
        if ml.get("target") is not None and config.control(ml["target"]) is None:
            ml = {**ml, "target": None}
        fields["ml"] = _check_target(merge_settings(ml, body.get("ml"), models), config)
    elif "ml" in body:
        config = parse_label_config(project.label_config)
        fields["ml"] = _check_target(merge_settings(ml, body["ml"], available_models(config)), config)
    if "ml" in fields:
        fields["ml"] = _prepare_custom_backend(project.ml, fields["ml"], client.project_key(project),
                                               fields.get("label_config", project.label_config))
    return fields


def patch(project_id: str, body: dict):
    _check_fields(body)

    def patched(project):
        fields = _patched(body, project)
        if "ml" in fields:
            labelstudio_stream.check_switch(project, fields["ml"])
        return fields, model_versions.pin_changed(project, fields["ml"]) if "ml" in fields else None

    before, after = model_versions.write_settings(project_id, patched)
    if "ml" in body or "label_config" in body:
        model_versions.follow_pin(before, after, isinstance(body.get("ml"), dict) and "pinned_version" in body["ml"])
        _rejudge_auto_labels(before, after)
        _follow_switch(before, after, body.get("ml"))
    return after


def delete(project_id: str) -> None:
    project_db.delete_project(project_id)


def settings(project_id: str) -> dict:
    return project_db.get_project(project_id).ml


def put_settings(project_id: str, body) -> dict:
    """Merge `body` onto the settings as stored; concurrent partial PUTs all land (a conditional
    write, recomputed on a conflict: model_versions.write_settings)."""
    def merged(project):
        config = parse_label_config(project.label_config)
        ml = _check_target(merge_settings(project.ml, body, available_models(config)), config)
        ml = _prepare_custom_backend(project.ml, ml, client.project_key(project), project.label_config)
        labelstudio_stream.check_switch(project, ml)
        return {"ml": ml}, model_versions.pin_changed(project, ml)

    before, after = model_versions.write_settings(project_id, merged)
    model_versions.follow_pin(before, after, isinstance(body, dict) and "pinned_version" in body)
    _rejudge_auto_labels(before, after)
    _follow_switch(before, after, body)
    return after.ml


def _auto_label_rules(ml: dict) -> dict:
    """The auto-label settings a rescoring pass applies (train_on_auto applies at training)."""
    return {k: v for k, v in auto_label_settings(ml).items() if k != "train_on_auto"}


def _rejudge_auto_labels(before, after) -> None:
    """Changed `ml.auto_label` rules take effect now: the active version re-judges the pool (turned
    on: labels; off: withdraws; a new target: re-calibrated). A retried request that changes
    nothing starts nothing; a pin that moved the pointer already re-judges with the pinned version
    (model_versions.start_move_jobs)."""
    moved = after.activation_seq != before.activation_seq
    if moved or after.active_version is None or _auto_label_rules(before.ml) == _auto_label_rules(after.ml):
        return
    rescoring.start_rejudging(after.project_id, after.active_version, after.task_seq,
                              int(after.updated_at.timestamp() * 1000))


def _follow_switch(before, after, asked) -> None:
    """`ml.labelstudio_stream` turned on or off (or named again: a retried request whose message
    was not sent): Label Studio's project settings follow (queued; applying them twice is harmless)."""
    named = isinstance(asked, dict) and "labelstudio_stream" in asked
    if named or bool(before.ml.get("labelstudio_stream")) != bool(after.ml.get("labelstudio_stream")):
        labelstudio_stream.follow(after, f"switch-{int(after.updated_at.timestamp() * 1000)}")


def models(project_id: str) -> dict:
    config = parse_label_config(project_db.get_project(project_id).label_config)
    return {
        "models": [kind.describe(config) for kind in registry.fitting_kinds(config)],
        "unsupported_controls": registry.unsupported_controls(config),
    }


def labelstudio_connection(project_id: str) -> dict:
    """What to paste into Label Studio's "Connect model" for this project."""
    project = project_db.get_project(project_id)
    user, password = project_credential(project_id)
    link = project.ls_link or {}
    return {
        "url_path": "/ls/",
        "auth_method": "BASIC_AUTH",
        "basic_auth_user": user,
        "basic_auth_pass": password,
        "webhook_headers": {"Authorization": basic_header(user, password)},
        "linked": {k: link.get(k) for k in ("ls_project", "hostname", "linked_at")} if link else None,
    }
