"""Which built-in model kinds exist and which fit a label config. No heavy imports here.

Each kind declares the control types it learns and the object (data) types it reads; the
module that implements it is imported only when a model is trained or loaded.
"""
import importlib
from dataclasses import dataclass

from chalicelib.labeling.config import Control, LabelConfig, ObjectTag

# Control tags no scikit-learn model here can learn: a custom backend is needed.
NEEDS_CUSTOM_MODEL = (
    "RectangleLabels", "Rectangle", "PolygonLabels", "Polygon", "EllipseLabels", "Ellipse",
    "KeyPointLabels", "KeyPoint", "BrushLabels", "Brush", "TextArea", "VideoRectangle",
    "TimeSeriesLabels", "HyperTextLabels", "ParagraphLabels", "Pairwise", "Ranker", "Relations", "DateTime",
)


@dataclass(frozen=True)
class Target:
    """One control the model learns, and the object it reads its input from."""

    control: Control
    obj: ObjectTag


@dataclass(frozen=True)
class ModelKind:
    name: str
    title: str
    description: str
    control_types: tuple[str, ...]
    data_types: tuple[str, ...]
    module: str
    class_name: str

    def targets(self, config: LabelConfig) -> list[Target]:
        found = []
        for control in config.controls_of_type(*self.control_types):
            for object_name in control.to_name:
                obj = config.object(object_name)
                if obj is not None and obj.type in self.data_types:
                    found.append(Target(control, obj))
                    break
        return found

    def implementation(self):
        return getattr(importlib.import_module(self.module), self.class_name)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "data_types": list(self.data_types),
            "control_types": list(self.control_types),
        }


KINDS = (
    ModelKind(
        name="text_classifier",
        title="Text classification (TF-IDF + logistic regression)",
        description="Learns a Choices control on Text, HyperText (tags stripped) or Paragraphs (joined) "
                    "from word and character n-grams; scores are calibrated class probabilities.",
        control_types=("Choices",),
        data_types=("Text", "HyperText", "Paragraphs"),
        module="chalicelib.ml.text_classifier",
        class_name="TextClassifier",
    ),
)


def get_kind(name: str) -> ModelKind | None:
    return next((kind for kind in KINDS if kind.name == name), None)


def fitting_kinds(config: LabelConfig) -> list[ModelKind]:
    return [kind for kind in KINDS if kind.targets(config)]


def unsupported_controls(config: LabelConfig) -> list[dict]:
    """Controls of the config no built-in kind learns (listed as 'needs a custom model')."""
    learned = {t.control.name for kind in KINDS for t in kind.targets(config)}
    return [
        {"control": c.name, "control_type": c.type, "reason": "needs a custom model"}
        for c in config.controls if c.name not in learned
    ]
