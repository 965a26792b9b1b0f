"""ML settings of a project: defaults, validation, partial updates.

Defaults (documented in README.md):
- min_completions 10: accepted tasks needed before the first training;
- agreement_threshold 0.5: a task's completions must agree at least this much to be accepted;
- overlap 1: completions wanted per task before it can be accepted;
- retrain_every 10: newly accepted (or relabelled) tasks between automatic retrainings;
- model: the first built-in model that fits the label config;
- target: null = the first control the model fits; or the name of the control it learns (checked
  against the label config by the API, chalicelib/ml/registry.py);
- sampling "auto"; first_batch_size null (= min_completions); custom_backend null;
- promotion "if_not_worse": a new version replaces the active one only if it is not worse on the
  validation set (domain/promotion.py); "always": every new version is promoted;
- pinned_version null: a version number stops automatic promotion (new versions are kept, "held")
  until it is set back to null;
- preannotate true: after each promotion every task without a human completion gets a stored
  prediction of the new version (a pre-annotation job);
- suspects null (off): when true, each promoted single-label classification version runs a suspects job
  (services/suspects.py): out-of-fold probabilities over the accepted tasks flag the human labels it
  confidently contradicts; `GET /next` serves them to another annotator first;
- labelstudio_stream false: when true (a project linked to a Label Studio project with a stored
  token), Label Studio's own labeling stream follows activelabel (services/labelstudio_stream.py).
"""
from numbers import Real
from urllib.parse import urlsplit

from chalicelib.domain.promotion import POLICIES as PROMOTION_POLICIES
from chalicelib.errors import ValidationError

SAMPLING_STRATEGIES = (
    "auto", "sequential", "random", "least_confidence", "margin", "entropy",
    "diverse_margin", "badge", "uncertainty",
)

MODEL_FREE_STRATEGIES = ("sequential", "random")  # strategies that never read a model's scores
SECRET_MASK = "********"  # what is shown instead of a custom backend's password

DEFAULTS = {
    "min_completions": 10,
    "agreement_threshold": 0.5,
    "overlap": 1,
    "retrain_every": 10,
    "model": None,
    "target": None,
    "custom_backend": None,
    "sampling": "auto",
    "first_batch_size": None,
    "promotion": "if_not_worse",
    "pinned_version": None,
    "preannotate": True,
    "auto_label": None,  # None = AUTO_LABEL_DEFAULTS (off)
    "suspects": None,  # None = never asked for (off); false = turned off (the next run clears the marks)
    "labelstudio_stream": False,
}
# Auto-labelling (domain/calibration.py): where a version's calibrated threshold shows
# `target_accuracy` with probability `confidence` on at least `min_validation` human labels it did
# not train on, rescoring labels unlabelled tasks above it; `audit_rate` of them go to people.
AUTO_LABEL_DEFAULTS = {
    "enabled": False,
    "target_accuracy": 0.95,
    "confidence": 0.95,
    "min_validation": 100,
    "audit_rate": 0.05,
    "train_on_auto": False,
}


def _fraction(value, field, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not (low < value if low_open else low <= value) \
            or not value <= high:
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ValidationError(field, f"must be a number in {interval}, got {value!r}")
    return float(value)


def _auto_label(current, value, field) -> dict:
    """A partial update of ml.auto_label onto what is stored (or the defaults)."""
    if not isinstance(value, dict):
        raise ValidationError(field, f"must be an object with some of {sorted(AUTO_LABEL_DEFAULTS)}")
    merged = {**AUTO_LABEL_DEFAULTS, **(current or {})}
    for key, item in value.items():
        path = f"{field}.{key}"
        if key in ("enabled", "train_on_auto"):
            if not isinstance(item, bool):
                raise ValidationError(path, f"must be true or false, got {item!r}")
            merged[key] = item
        elif key in ("target_accuracy", "confidence"):
            merged[key] = _fraction(item, path, 0.5, 0.9999)
        elif key == "audit_rate":
            merged[key] = _fraction(item, path, 0.0, 1.0)
        elif key == "min_validation":
            merged[key] = _int(item, path, 10, 1_000_000)
        else:
            raise ValidationError(path, f"unknown field; known: {sorted(AUTO_LABEL_DEFAULTS)}")
    return merged


def auto_label_settings(settings: dict) -> dict:
    return {**AUTO_LABEL_DEFAULTS, **(settings.get("auto_label") or {})}


def _int(value, field, minimum, maximum=1_000_000_000):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValidationError(field, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _validate_field(key, value, available_models, field):
    if key == "min_completions":
        return _int(value, field, 1)
    if key == "overlap":
        return _int(value, field, 1, 100)
    if key == "retrain_every":
        return _int(value, field, 1)
    if key == "first_batch_size":
        return None if value is None else _int(value, field, 1)
    if key == "promotion":
        if value not in PROMOTION_POLICIES:
            raise ValidationError(field, f"must be one of {list(PROMOTION_POLICIES)}, got {value!r}")
        return value
    if key == "pinned_version":
        return None if value is None else _int(value, field, 1)
    if key == "suspects" and value is None:
        return None
    if key in ("preannotate", "suspects", "labelstudio_stream"):
        if not isinstance(value, bool):
            raise ValidationError(field, f"must be true or false, got {value!r}")
        return value
    if key == "agreement_threshold":
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
            raise ValidationError(field, f"must be a number in [0, 1], got {value!r}")
        return float(value)
    if key == "sampling":
        if value not in SAMPLING_STRATEGIES:
            raise ValidationError(field, f"unknown strategy {value!r}; expected one of {list(SAMPLING_STRATEGIES)}")
        return value
    if key == "model":
        if value == "custom":
            return value
        if not isinstance(value, str) or value not in available_models:
            if available_models:
                hint = f"models that fit this label config: {sorted(available_models)} or 'custom'"
            else:
                hint = "no built-in model fits this label config; use 'custom' with custom_backend"
            raise ValidationError(field, f"model {value!r} does not fit this project; {hint}")
        return value
    if key == "target":
        if value is not None and (not isinstance(value, str) or not value):
            raise ValidationError(field, f"must be the name of a control of the label config or null, got {value!r}")
        return value
    if key == "custom_backend":
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValidationError(field, "must be an object {\"url\", \"basic_auth_user\"?, \"basic_auth_pass\"?} or null")
        unknown = set(value) - {"url", "basic_auth_user", "basic_auth_pass"}
        if unknown:
            raise ValidationError(f"{field}.{sorted(unknown)[0]}", "unknown field")
        _check_backend_url(value.get("url"), f"{field}.url")
        for key in ("basic_auth_user", "basic_auth_pass"):
            credential = value.get(key)
            if credential is not None and (not isinstance(credential, str) or len(credential) > MAX_CREDENTIAL_CHARS):
                raise ValidationError(f"{field}.{key}",
                                      f"must be a string of at most {MAX_CREDENTIAL_CHARS} characters or null, "
                                      f"got {type(credential).__name__}")
        return dict(value)
    raise ValidationError(field, f"unknown ML setting {key!r}; known: {sorted(DEFAULTS)}")


MAX_URL_CHARS = 2000
MAX_HOST_CHARS = 253  # the longest DNS name
MAX_CREDENTIAL_CHARS = 1000


def _check_backend_url(url, field: str) -> None:
    """The shape of a custom backend's URL (where it resolves to is checked when it is called)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > MAX_URL_CHARS:
        shown = url[:80] if isinstance(url, str) else url
        raise ValidationError(field, f"must be an http(s) URL of at most {MAX_URL_CHARS} characters, got {shown!r}")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise ValidationError(field, f"is not a valid URL ({exc})")
    if not host or len(host) > MAX_HOST_CHARS:
        raise ValidationError(field, f"must name a host of 1 to {MAX_HOST_CHARS} characters")


def merge_settings(current: dict | None, update, available_models: list[str], field: str = "ml") -> dict:
    """Return `current` (or the defaults) with the fields of `update` validated and applied.

    Raises ValidationError naming the first bad field; never returns a partly applied result.
    """
    if update is None:
        update = {}
    if not isinstance(update, dict):
        raise ValidationError(field, "must be a JSON object")
    merged = dict(DEFAULTS)
    merged.update(current or {})
    for key, value in update.items():
        if key == "auto_label":
            merged[key] = _auto_label(merged.get(key), value, f"{field}.{key}")
            continue
        merged[key] = _validate_field(key, value, available_models, f"{field}.{key}")
    if merged["model"] is None and available_models:
        merged["model"] = available_models[0]
    if merged["model"] == "custom" and not merged["custom_backend"]:
        raise ValidationError(f"{field}.custom_backend", "required when model is 'custom'")
    return merged


def masked(ml: dict | None) -> dict | None:
    """The settings as shown: a custom backend's password replaced by SECRET_MASK."""
    custom = (ml or {}).get("custom_backend")
    if not custom or not custom.get("basic_auth_pass"):
        return ml
    return {**ml, "custom_backend": {**custom, "basic_auth_pass": SECRET_MASK}}
