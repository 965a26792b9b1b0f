"""Label Studio result items and export JSON (protocol doc §2.1-2.3)."""

from __future__ import annotations

import secrets
import string

from chalicelib.labeling.config import Control

_REGION_ALPHABET = string.ascii_letters + string.digits + "_-"


def new_region_id() -> str:
    """A region id like the Label Studio editor makes: 10 URL-safe random characters (the first 10
    of 8 random bytes in base64url: 60 random bits, each character uniform over _REGION_ALPHABET)."""
    return secrets.token_urlsafe(8)[:10]


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
    for key in ("id", "created_at", "task_id", "auto"):  # auto: an auto label (services/auto_labeling.py)
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
