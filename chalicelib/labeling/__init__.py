"""Label Studio label configs, task/result validation and Label Studio JSON formats (pure Python)."""

from chalicelib.labeling.config import (
    CONTROL_TAGS,
    MAX_CONFIG_CHARS,
    MAX_DEPTH,
    MAX_ELEMENTS,
    OBJECT_TAGS,
    Control,
    LabelConfig,
    ObjectTag,
    parse_label_config,
)
from chalicelib.labeling.results import (
    completion_to_labelstudio,
    new_region_id,
    prediction_to_labelstudio,
    result_item,
    task_to_labelstudio,
)
from chalicelib.labeling.normalize import normalize_completion, normalize_import_task
from chalicelib.labeling.validation import MAX_TEXT_CHARS, validate_result, validate_task_data

__all__ = [
    "CONTROL_TAGS",
    "MAX_CONFIG_CHARS",
    "MAX_DEPTH",
    "MAX_ELEMENTS",
    "MAX_TEXT_CHARS",
    "OBJECT_TAGS",
    "Control",
    "LabelConfig",
    "ObjectTag",
    "completion_to_labelstudio",
    "new_region_id",
    "normalize_completion",
    "normalize_import_task",
    "parse_label_config",
    "prediction_to_labelstudio",
    "result_item",
    "task_to_labelstudio",
    "validate_result",
    "validate_task_data",
]
