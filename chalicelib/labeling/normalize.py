"""Normalisation of Label Studio annotations/completions, predictions and import tasks (both
namings: `annotations` and the pre-1.0 `completions`) into the plain dicts we store.

Every failure is a `ValidationError(field, message)` naming the offending field.
"""

from __future__ import annotations

from chalicelib.errors import ValidationError
from chalicelib.labeling.config import LabelConfig
from chalicelib.labeling.validation import (
    MAX_NAME_CHARS,
    _is_int,
    _is_number,
    _json_type,
    _key_path,
    _short,
    validate_result,
    validate_task_data,
)


def _completed_by(value, path: str) -> str:
    name = _annotator_name(value, path)
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(path, f"completed_by is {len(name)} characters long; the limit is {MAX_NAME_CHARS}")
    return name


def _annotator_name(value, path: str) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        raise ValidationError(path, f"completed_by must be a name, an id or a user object, got boolean {value}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or "unknown"
    if isinstance(value, dict):
        email = value.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        uid = value.get("id")
        if isinstance(uid, str) and uid.strip():
            return uid.strip()
        if _is_int(uid):
            return str(uid)
        raise ValidationError(path, f"completed_by object needs an 'email' or an 'id', got keys {sorted(value)}")
    raise ValidationError(path, f"completed_by must be a name, an id or a user object, got {_json_type(value)}")


def _flag(obj: dict, key: str, path: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(_key_path(path, key), f"{key} must be true or false, got {_json_type(value)} {_short(value)}")
    return value


def normalize_completion(obj: dict, field: str) -> dict:
    """A Label Studio annotation (or pre-1.0 completion) -> `{"result", "completed_by",
    "was_cancelled", "lead_time", "ground_truth"}`. `skipped` (old naming) means `was_cancelled`."""
    if not isinstance(obj, dict):
        raise ValidationError(field, f"annotation must be a JSON object, got {_json_type(obj)}")
    was_cancelled = _flag(obj, "was_cancelled", field) or _flag(obj, "skipped", field)
    result = obj.get("result")
    if result is None:
        if not was_cancelled:
            raise ValidationError(_key_path(field, "result"), "missing; an annotation needs a 'result' list")
        result = []
    if not isinstance(result, list):
        raise ValidationError(_key_path(field, "result"), f"result must be a list, got {_json_type(result)}")
    lead_time = obj.get("lead_time")
    if lead_time is not None:
        if not _is_number(lead_time) or abs(float(lead_time)) > MAX_LEAD_TIME:
            raise ValidationError(_key_path(field, "lead_time"),
                                  f"lead_time must be a number of seconds up to {MAX_LEAD_TIME:g}, got {_short(lead_time)}")
        lead_time = round(float(lead_time), 6)  # stored as a DynamoDB number: no magnitude below 1e-130
    return {
        "result": result,
        "completed_by": _completed_by(obj.get("completed_by"), _key_path(field, "completed_by")),
        "was_cancelled": was_cancelled,
        "lead_time": lead_time,
        "ground_truth": _flag(obj, "ground_truth", field),
    }


def _normalize_prediction(obj, path: str) -> dict:
    if not isinstance(obj, dict):
        raise ValidationError(path, f"prediction must be a JSON object, got {_json_type(obj)}")
    result = obj.get("result")
    if not isinstance(result, list):
        raise ValidationError(f"{path}.result", f"prediction result must be a list, got {_json_type(result)}")
    score = obj.get("score")
    if score is not None:
        if not _is_number(score):
            raise ValidationError(f"{path}.score", f"score must be a number, got {_short(score)}")
        score = float(score)
    version = obj.get("model_version")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (str, int, float)):
            raise ValidationError(f"{path}.model_version", f"model_version must be a string, got {_json_type(version)}")
        version = str(version)
        if len(version) > MAX_NAME_CHARS:
            raise ValidationError(f"{path}.model_version",
                                  f"model_version is {len(version)} characters long; the limit is {MAX_NAME_CHARS}")
    return {"result": result, "score": score, "model_version": version}


_TASK_KEYS = ("annotations", "completions", "predictions")
MAX_LEAD_TIME = 1e9


def normalize_import_task(obj, field: str, config: LabelConfig | None = None) -> dict:
    """A Label Studio task for import -> `{"data", "completions", "predictions", "meta"}`.

    Accepts `annotations` or (pre-1.0) `completions`. An object with none of `data`, `annotations`,
    `completions`, `predictions` is a bare data object, as Label Studio's importer allows. With
    `config`, the data and every result are also checked against it.
    """
    if not isinstance(obj, dict):
        raise ValidationError(field, f"task must be a JSON object, got {_json_type(obj)}")
    if "data" in obj:
        data = obj["data"]
        if not isinstance(data, dict):
            raise ValidationError(_key_path(field, "data"), f"task data must be a JSON object, got {_json_type(data)}")
    elif any(k in obj for k in _TASK_KEYS):
        raise ValidationError(_key_path(field, "data"), "missing; a task with annotations or predictions needs a 'data' object")
    else:
        data = obj
    if "annotations" in obj and "completions" in obj:
        raise ValidationError(
            _key_path(field, "completions"),
            "task has both 'annotations' and 'completions'; send one of them (they are the same list)",
        )
    key = "completions" if "completions" in obj else "annotations"
    raw_completions = obj.get(key)
    if raw_completions is None:
        raw_completions = []
    if not isinstance(raw_completions, list):
        raise ValidationError(f"{field}.{key}", f"{key} must be a list, got {_json_type(raw_completions)}")
    raw_predictions = obj.get("predictions")
    if raw_predictions is None:
        raw_predictions = []
    if not isinstance(raw_predictions, list):
        raise ValidationError(_key_path(field, "predictions"), f"predictions must be a list, got {_json_type(raw_predictions)}")
    meta = obj.get("meta") if "data" in obj else None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ValidationError(_key_path(field, "meta"), f"meta must be a JSON object, got {_json_type(meta)}")

    data_path = _key_path(field, "data") if "data" in obj else field
    completions = [normalize_completion(c, f"{field}.{key}[{i}]") for i, c in enumerate(raw_completions)]
    predictions = [_normalize_prediction(p, f"{field}.predictions[{i}]") for i, p in enumerate(raw_predictions)]
    if config is not None:
        validate_task_data(config, data, data_path)
        for i, c in enumerate(completions):
            validate_result(config, c["result"], data, f"{field}.{key}[{i}].result")
        for i, p in enumerate(predictions):
            validate_result(config, p["result"], data, f"{field}.predictions[{i}].result")
    return {"data": data, "completions": completions, "predictions": predictions, "meta": meta}
