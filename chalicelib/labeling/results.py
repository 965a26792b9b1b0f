"""Label Studio result items and export JSON (protocol doc §2.1-2.3)."""

from __future__ import annotations

import secrets
import string

from chalicelib.labeling.config import Control

_REGION_ALPHABET = string.ascii_letters + string.digits + "_-"


def new_region_id() -> str:
    """A region id like the Label Studio editor makes: 10 URL-safe random characters."""
    return "".join(secrets.choice(_REGION_ALPHABET) for _ in range(10))


def choices_result(control: Control, choices: list[str], score: float | None = None) -> dict:
    """One `choices` result item for a Choices control (targets its first `toName`)."""
    if control.type != "Choices":
        raise ValueError(f"choices_result needs a Choices control, got {control.name!r} (<{control.type}>)")
    item = {
        "id": new_region_id(),
        "from_name": control.name,
        "to_name": control.to_name[0],
        "type": "choices",
        "value": {"choices": list(choices)},
    }
    if score is not None:
        item["score"] = float(score)
    return item


def result_item(control: Control, to_name: str, value: dict, score: float | None = None) -> dict:
    """One result item of any control type (`type` = the tag lowercased), for object `to_name`."""
    if to_name not in control.to_name:
        raise ValueError(f"{to_name!r} is not a toName of control {control.name!r}: {control.to_name}")
    item = {
        "id": new_region_id(),
        "from_name": control.name,
        "to_name": to_name,
        "type": control.result_type,
        "value": value,
    }
    if score is not None:
        item["score"] = float(score)
    return item


def extract_choices(result: list, control_name: str) -> list[str] | None:
    """The choices a result gives for a control, or None when it has none.

    Classification-level items (no region geometry) win over per-region ones; malformed items are
    skipped (validate before trusting a result)."""
    region_level = None
    for item in result or ():
        if not isinstance(item, dict) or item.get("from_name") != control_name or item.get("type") != "choices":
            continue
        value = item.get("value")
        if not isinstance(value, dict):
            continue
        choices = value.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            continue
        if any(k in value for k in ("start", "end", "x", "y", "points")):
            if region_level is None:
                region_level = list(choices)
            continue
        return list(choices)
    return region_level


def iso(value) -> str | None:
    """A datetime as ISO 8601 with a `Z` (what our JSON and Label Studio's show)."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def completion_record(completion) -> dict:
    """A stored completion (attributes as in store/models.py) -> its JSON record."""
    return {
        "id": completion.completion_id,
        "task_id": int(completion.task_id),
        "result": completion.result,
        "completed_by": completion.completed_by,
        "was_cancelled": bool(completion.was_cancelled),
        "ground_truth": bool(completion.ground_truth),
        "lead_time": completion.lead_time,
        "created_at": iso(completion.created_at),
        "updated_at": iso(completion.updated_at),
    }


def completion_to_labelstudio(completion: dict, naming: str = "annotations") -> dict:
    """Our completion record -> a Label Studio annotation (with `skipped` too in the old naming)."""
    out = {
        "id": completion.get("id"),
        "result": completion.get("result") or [],
        "completed_by": completion.get("completed_by"),
        "was_cancelled": bool(completion.get("was_cancelled", False)),
        "ground_truth": bool(completion.get("ground_truth", False)),
        "created_at": completion.get("created_at"),
        "updated_at": completion.get("updated_at", completion.get("created_at")),
        "lead_time": completion.get("lead_time"),
        "task": completion.get("task_id"),
    }
    if naming == "completions":
        out["skipped"] = out["was_cancelled"]
    return out


def prediction_to_labelstudio(prediction: dict) -> dict:
    out = {
        "result": prediction.get("result") or [],
        "score": prediction.get("score"),
        "model_version": prediction.get("model_version"),
    }
    for key in ("id", "created_at", "task_id"):
        if key in prediction:
            out["task" if key == "task_id" else key] = prediction[key]
    return out


def task_to_labelstudio(task: dict, completions: list[dict], predictions: list[dict],
                        naming: str = "annotations") -> dict:
    """A task with its completions and predictions in Label Studio export JSON.

    `naming` is "annotations" (Label Studio >= 1.0) or "completions" (the pre-1.0 name)."""
    if naming not in ("annotations", "completions"):
        raise ValueError(f"naming must be 'annotations' or 'completions', got {naming!r}")
    annotations = [completion_to_labelstudio(c, naming) for c in completions]
    cancelled = sum(1 for a in annotations if a["was_cancelled"])
    out = {
        "id": task.get("id"),
        "data": task.get("data") or {},
        "meta": task.get("meta") or {},
        "created_at": task.get("created_at"),
        "updated_at": task.get("updated_at", task.get("created_at")),
        naming: annotations,
        "predictions": [prediction_to_labelstudio(p) for p in predictions],
        "total_annotations": len(annotations) - cancelled,
        "cancelled_annotations": cancelled,
        "total_predictions": len(predictions),
    }
    return out
