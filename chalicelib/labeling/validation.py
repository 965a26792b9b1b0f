"""Checks of task data and result items against a parsed label config (normalize.py reads
Label Studio's annotations and import tasks and calls these).

Every failure is a `ValidationError(field, message)` whose field is a dotted path
(`tasks[3].data.text`, `result[0].value.choices`) and whose message names the offending value.
"""

from __future__ import annotations

import math
import re

from chalicelib.errors import ValidationError
from chalicelib.labeling.config import Control, LabelConfig, ObjectTag

MAX_TEXT_CHARS = 100_000
MAX_NAME_CHARS = 256  # completed_by (a Label Studio e-mail is at most 254), a prediction's model_version

_URL_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://\S+|/\S*)$")
# s3://<bucket>/<key> as S3 names a bucket (3-63 of a-z 0-9 . -): no port, user or empty key
S3_URL = re.compile(r"(?i:s3)://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^?#]+")
_SPAN_OBJECTS = frozenset({"Text"})  # character offsets into a string in task data
_TIMED_OBJECTS = frozenset({"Audio", "AudioPlus", "Video", "TimeSeries"})  # start/end in seconds/units


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _key_path(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _url_typed(obj: ObjectTag) -> bool:
    return bool(obj.value_type) and "url" in obj.value_type.lower().split("|")


# --------------------------------------------------------------------------- task data


def validate_task_data(config: LabelConfig, data, field: str = "data") -> None:
    """Task data must be an object holding every `$variable` of the config with a suitable value.
    Extra keys are allowed (Label Studio keeps them too)."""
    if not isinstance(data, dict):
        raise ValidationError(field, f"task data must be a JSON object, got {_json_type(data)}")
    for obj in config.objects:
        key = obj.value_key
        path = _key_path(field, key)
        if key not in data:
            present = sorted(data)[:20]
            raise ValidationError(
                path,
                f"missing key {key!r} required by <{obj.type} name={obj.name!r} value=\"${key}\">; "
                f"data has keys {present}",
            )
        _check_data_value(obj, data[key], path)


def _check_data_value(obj: ObjectTag, value, path: str) -> None:
    t = obj.type
    url_typed = _url_typed(obj)

    def want(what: str) -> ValidationError:
        return ValidationError(path, f"<{t} name={obj.name!r}> needs {what}, got {_json_type(value)} {_short(value)}")

    if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
        raise ValidationError(path, f"value is {len(value)} characters long; the limit is {MAX_TEXT_CHARS}")

    if url_typed:
        if not isinstance(value, str):
            raise want("a URL string (valueType contains 'url')")
        if not _URL_RE.match(value.strip()):
            raise ValidationError(path, f"<{t} name={obj.name!r}> has valueType 'url' but {_short(value)} is not a URL")
        return
    if t in ("Text", "HyperText", "Image", "Audio", "AudioPlus", "Video"):
        if t == "Image" and obj.value_type == "list":  # <Image valueList="$images">
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise want("a list of image URL strings")
            for i, url in enumerate(value):
                if url[:5].lower() == "s3://" and not S3_URL.fullmatch(url):
                    raise ValidationError(f"{path}[{i}]", f"needs an S3 URL such as s3://bucket/key, got {_short(url)}")
            return
        if not isinstance(value, str):
            raise want("a string")
        if t == "Image" and value[:5].lower() == "s3://" and not S3_URL.fullmatch(value):
            raise ValidationError(path, f"<Image name={obj.name!r}> needs an S3 URL such as s3://bucket/key (a "
                                        f"bucket name, no port or user), got {_short(value)}")
    elif t == "Table":
        if not isinstance(value, (dict, list)):
            raise want("an object or a list")
    elif t == "Paragraphs":
        if not isinstance(value, list):
            raise want("a list of paragraph objects")
    elif t in ("List", "Chat"):
        if not isinstance(value, list):
            raise want("a list")
    elif t == "TimeSeries":
        if not isinstance(value, (str, dict)):
            raise want("a URL string or an object of columns")


# --------------------------------------------------------------------------- results


def reads_task_data(config: LabelConfig) -> bool:
    """Whether `validate_result` reads the task's data for this config (spans over a Text object);
    otherwise a result is checked against the config alone."""
    return any(c.type == "Labels" and any(o.type in _SPAN_OBJECTS for o in config.objects_of(c))
               for c in config.controls)


def validate_result(config: LabelConfig, result, data: dict | None = None, field: str = "result") -> None:
    """Check a Label Studio `result` list against the config.

    Per item: `from_name` names a control, `to_name` one of its `toName`s, `type` is the control tag
    lowercased, `value` an object. Choices, Labels (and the *Labels tags), Rating, Number, Taxonomy and
    TextArea values are checked in depth; other control types only need an object. When `data` is
    given, spans over a Text object are checked against the text (offsets and the quoted `text`).
    """
    if not isinstance(result, list):
        raise ValidationError(field, f"result must be a list of result items, got {_json_type(result)}")
    for i, item in enumerate(result):
        _validate_item(config, item, data, f"{field}[{i}]")


def _validate_item(config: LabelConfig, item, data: dict | None, path: str) -> None:
    if not isinstance(item, dict):
        raise ValidationError(path, f"result item must be an object, got {_json_type(item)}")
    item_type = item.get("type")
    if item_type == "relation" and "from_name" not in item:
        for key in ("from_id", "to_id"):
            ref = item.get(key)
            if not (isinstance(ref, str) and ref) and not _is_int(ref):
                raise ValidationError(_key_path(path, key), f"relation needs {key!r} (a region id), got {_short(ref)}")
        return

    from_name = item.get("from_name")
    if not isinstance(from_name, str):
        raise ValidationError(f"{path}.from_name",
                              f"from_name must be a control name (string), got {_short(from_name)}")
    control = config.control(from_name)
    if control is None:
        raise ValidationError(
            f"{path}.from_name",
            f"unknown control {from_name!r}; expected one of {sorted(c.name for c in config.controls)}",
        )
    to_name = item.get("to_name")
    allowed_to = list(control.to_name) + ([control.name] if control.type == "Pairwise" else [])
    if to_name not in allowed_to:
        raise ValidationError(
            f"{path}.to_name",
            f"to_name {_short(to_name)} is not a target of control {from_name!r}; expected one of {control.to_name}",
        )
    expected_type = control.result_type
    if item_type != expected_type:
        raise ValidationError(
            f"{path}.type",
            f"type {_short(item_type)} does not match control {from_name!r} (<{control.type}>); "
            f"expected {expected_type!r}",
        )
    value = item.get("value")
    vpath = f"{path}.value"
    if not isinstance(value, dict):
        raise ValidationError(vpath, f"value must be an object, got {_json_type(value)}")
    obj = config.object(to_name)

    if control.type == "Choices":
        _check_choices(control, value.get("choices"), f"{vpath}.choices")
    elif control.type == "Labels":
        _check_labels(control, value, obj, data, vpath)
    elif control.result_type in value and control.labels and control.type.endswith("Labels"):
        _check_label_list(control, value[control.result_type], f"{vpath}.{control.result_type}", allow_empty=True)
    elif control.type == "Rating":
        _check_rating(control, value.get("rating"), f"{vpath}.rating")
    elif control.type == "Number":
        _check_number(control, value.get("number"), f"{vpath}.number")
    elif control.type == "Taxonomy":
        _check_taxonomy(control, value.get("taxonomy"), f"{vpath}.taxonomy")
    elif control.type == "TextArea":
        text = value.get("text")
        if not isinstance(text, list) or not all(isinstance(t, str) for t in text):
            raise ValidationError(f"{vpath}.text",
                                  f"text must be a list of strings, got {_json_type(text)} {_short(text)}")


def _known(control: Control, label: str) -> bool:
    return label in control.labels or label in control.aliases


def _check_label_list(control: Control, labels, path: str, allow_empty: bool) -> None:
    kind = "choice" if control.type in ("Choices",) else "label"
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValidationError(path, f"must be a list of strings, got {_json_type(labels)} {_short(labels)}")
    if not labels and not allow_empty:
        raise ValidationError(path, f"must name at least one {kind}")
    if control.dynamic:
        return  # options come from the task data; nothing fixed to compare with
    for label in labels:
        if not _known(control, label):
            raise ValidationError(path, f"unknown {kind} {label!r}; expected one of {sorted(control.labels)}")


def _check_choices(control: Control, choices, path: str) -> None:
    _check_label_list(control, choices, path, allow_empty=False)
    if control.choice == "single" and len(choices) != 1:
        raise ValidationError(path, f"control {control.name!r} allows a single choice, got {len(choices)}: {choices}")


def _check_labels(control: Control, value: dict, obj: ObjectTag | None, data: dict | None, vpath: str) -> None:
    _check_label_list(control, value.get("labels"), f"{vpath}.labels", allow_empty=True)
    start, end = value.get("start"), value.get("end")
    otype = obj.type if obj else None
    if otype in _SPAN_OBJECTS:
        for key, v in (("start", start), ("end", end)):
            if not _is_int(v):
                raise ValidationError(f"{vpath}.{key}", f"{key} must be an integer character offset, got {_short(v)}")
    elif otype in _TIMED_OBJECTS:
        for key, v in (("start", start), ("end", end)):
            if not _is_number(v):
                raise ValidationError(f"{vpath}.{key}", f"{key} must be a number, got {_short(v)}")
    else:
        return  # HyperText/Paragraphs spans are XPath-based: no numeric check
    if not start < end:
        raise ValidationError(f"{vpath}.end", f"end {end} must be greater than start {start}")
    if otype in _SPAN_OBJECTS and start < 0:
        raise ValidationError(f"{vpath}.start", f"start {start} must be >= 0")
    if otype not in _SPAN_OBJECTS or data is None or _url_typed(obj):
        return
    text = data.get(obj.value_key) if isinstance(data, dict) else None
    if not isinstance(text, str):
        return
    quoted = value.get("text")
    spans, length = _spans(text, start, end)
    if not spans:
        raise ValidationError(
            f"{vpath}.end", f"end {end} is beyond the end of data.{obj.value_key} (length {length})"
        )
    if quoted is not None and quoted not in spans:
        raise ValidationError(
            f"{vpath}.text",
            f"text {_short(quoted)} does not match data.{obj.value_key}[{start}:{end}] = {_short(spans[0])}",
        )


def _spans(text: str, start: int, end: int) -> tuple[list[str], int]:
    """The text between two offsets, read both ways they occur: Label Studio's editor counts UTF-16
    code units (JavaScript strings), Python-made predictions count code points. The two differ only
    when the text has astral characters (emoji). Returns ([], length) when `end` is out of range."""
    spans = [text[start:end]] if end <= len(text) else []
    astral = 0 if text.isascii() else sum(1 for ch in text if ord(ch) > 0xFFFF)
    if not astral:
        return spans, len(text)
    u16_len = len(text) + astral
    if end <= u16_len:
        spans.append(text.encode("utf-16-le")[2 * start: 2 * end].decode("utf-16-le", errors="replace"))
    return spans, u16_len


def _check_rating(control: Control, rating, path: str) -> None:
    max_rating = int(control.attr("maxRating", 5))
    if not _is_int(rating) or not 0 <= rating <= max_rating:
        raise ValidationError(path, f"rating must be an integer from 0 to {max_rating}, got {_short(rating)}")


def _check_number(control: Control, number, path: str) -> None:
    if not _is_number(number):
        raise ValidationError(path, f"number must be a number, got {_json_type(number)} {_short(number)}")
    lo, hi = control.attr("min"), control.attr("max")
    if lo not in (None, "") and number < float(lo):
        raise ValidationError(path, f"number {number} is below the minimum {lo} of control {control.name!r}")
    if hi not in (None, "") and number > float(hi):
        raise ValidationError(path, f"number {number} is above the maximum {hi} of control {control.name!r}")


def _check_taxonomy(control: Control, paths, path: str) -> None:
    if not isinstance(paths, list) or not paths:
        raise ValidationError(path, f"taxonomy must be a non-empty list of paths, got {_short(paths)}")
    for i, p in enumerate(paths):
        if not isinstance(p, list) or not p or not all(isinstance(x, str) for x in p):
            raise ValidationError(f"{path}[{i}]",
                                  f"a taxonomy path must be a non-empty list of strings, got {_short(p)}")
        if control.dynamic:
            continue
        canonical = [control.aliases.get(x, x) for x in p]
        if not any(known[: len(canonical)] == canonical for known in control.taxonomy):
            raise ValidationError(
                f"{path}[{i}]", f"unknown taxonomy path {' / '.join(p)!r} in control {control.name!r}"
            )
