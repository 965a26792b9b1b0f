"""Which built-in model kinds exist and which fit a label config. No heavy imports here.

Each kind declares the control types it learns and the object (data) types it reads; the
module that implements it is imported only when a model is trained or loaded.
"""
import importlib
from dataclasses import dataclass

from chalicelib.errors import ValidationError
from chalicelib.labeling.config import Control, LabelConfig, ObjectTag

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

    def describe(self, config: LabelConfig | None = None) -> dict:
        """The kind as `GET /models` lists it; with a config, the controls it would learn there."""
        out = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "data_types": list(self.data_types),
            "control_types": list(self.control_types),
        }
        if config is not None:
            out["targets"] = [
                {"control": t.control.name, "control_type": t.control.type, "object": t.obj.name,
                 "object_type": t.obj.type}
                for t in self.targets(config)
            ]
        return out

    def target(self, config: LabelConfig, control_name: str | None = None) -> Target:
        """The target this kind learns: the named control, or the first that fits.

        Raises ValidationError (field `ml.target`) saying why when the control does not fit."""
        targets = self.targets(config)
        if control_name is None:
            if not targets:
                raise ValidationError("ml.model", f"model {self.name!r} fits no control of this label config")
            return targets[0]
        for t in targets:
            if t.control.name == control_name:
                return t
        control = config.control(control_name)
        if control is None:
            why = f"the label config has no control {control_name!r}"
        elif control.type not in self.control_types:
            why = f"control {control_name!r} is <{control.type}>; {self.name!r} learns {list(self.control_types)}"
        else:
            types = [o.type for o in config.objects_of(control)]
            why = f"control {control_name!r} labels {types}; {self.name!r} reads {list(self.data_types)}"
        fitting = [t.control.name for t in targets]
        raise ValidationError("ml.target", f"{why}; controls it fits here: {fitting}")


TEXT_OBJECTS = ("Text", "HyperText", "Paragraphs")

KINDS = (
    ModelKind(
        name="text_classifier",
        title="Text classification (TF-IDF + logistic regression)",
        description="Learns a Choices control on Text, HyperText (tags stripped) or Paragraphs (joined) "
                    "from word and character n-grams; choice=\"multiple\" is one-vs-rest. Scores are "
                    "class probabilities.",
        control_types=("Choices",),
        data_types=TEXT_OBJECTS,
        module="chalicelib.ml.text_classifier",
        class_name="TextClassifier",
    ),
    ModelKind(
        name="taxonomy_classifier",
        title="Taxonomy on text (TF-IDF + logistic regression over paths)",
        description="Learns a Taxonomy control on text: each root-to-leaf path is a class; predictions are "
                    "written back as paths.",
        control_types=("Taxonomy",),
        data_types=TEXT_OBJECTS,
        module="chalicelib.ml.taxonomy_classifier",
        class_name="TaxonomyClassifier",
    ),
    ModelKind(
        name="ner_tagger",
        title="Named entities (token-level BIO tagger)",
        description="Learns a Labels control on Text: per-token features, a logistic regression over BIO "
                    "tags and constrained decoding; spans carry exact character offsets.",
        control_types=("Labels",),
        data_types=("Text",),
        module="chalicelib.ml.span_tagger",
        class_name="SpanTagger",
    ),
    ModelKind(
        name="image_classifier",
        title="Image classification (gradient and colour histograms + logistic regression)",
        description="Learns a Choices control on Image; images are read from s3:// or http(s) URLs "
                    "(size and type limits).",
        control_types=("Choices",),
        data_types=("Image",),
        module="chalicelib.ml.image_classifier",
        class_name="ImageClassifier",
    ),
    ModelKind(
        name="tabular",
        title="Tabular classification and regression",
        description="Learns Choices (logistic regression), Rating or Number (ridge regression, clipped to the "
                    "tag's range) on Table data: an object of key/values per task.",
        control_types=("Choices", "Rating", "Number"),
        data_types=("Table",),
        module="chalicelib.ml.tabular",
        class_name="tabular_model",
    ),
    ModelKind(
        name="text_regressor",
        title="Rating / Number on text (TF-IDF + ridge regression)",
        description="Learns a Rating or Number control on text as a regression, clipped to the tag's range.",
        control_types=("Rating", "Number"),
        data_types=TEXT_OBJECTS,
        module="chalicelib.ml.text_regressor",
        class_name="TextRegressor",
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
