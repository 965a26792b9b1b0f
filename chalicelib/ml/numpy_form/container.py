"""The .npz container of the numpy form: `export` writes a fitted model's pipeline and state,
`load` reads it back without pickle and rebuilds the model around a `NumpyPipeline`.

numpy is imported inside functions only, and scikit-learn only when exporting: the API imports
this package at cold start, and the predict path must not import scikit-learn.
"""
import importlib
import io
import json
from dataclasses import asdict

from chalicelib.labeling.config import Control, ObjectTag
from chalicelib.ml.base import ModelBase
from chalicelib.ml.numpy_form.arrays import CannotExport, Rows, Writer
from chalicelib.ml.numpy_form.estimators import Linear, export_final
from chalicelib.ml.numpy_form.features import (Chain, DictColumns, Identity, Projection, Scaler, Tfidf, Union,
                                               export_transform)
from chalicelib.ml.registry import KINDS, Target

FORMAT = "activelabel-numpy"
FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"  # an .npz is a zip archive; a joblib artifact starts with a pickle opcode


def is_numpy_form(body: bytes) -> bool:
    return body[:4] == _ZIP_MAGIC


class NumpyPipeline:
    """Transform steps then a final Linear; `pipeline[:-1].transform(X)` is the feature embedding."""

    def __init__(self, steps: list[tuple[str, object]]):
        self.steps = steps

    def __getitem__(self, index):
        return NumpyPipeline(self.steps[index])

    def transform(self, X):
        for _, step in self.steps:
            X = step.transform(X)
        return X.tocsr() if isinstance(X, Rows) else X

    def _features(self, X):
        for _, step in self.steps[:-1]:
            X = step.transform(X)
        return X

    def predict_proba(self, X):
        return self.steps[-1][1].predict_proba(self._features(X))

    def predict(self, X):
        return self.steps[-1][1].predict(self._features(X))


def _model_state(model) -> dict:
    state = {k: v for k, v in vars(model).items() if k not in ("estimator", "target", "pool")}
    return {"module": type(model).__module__, "class": type(model).__name__,
            "target": {"control": asdict(model.target.control), "obj": asdict(model.target.obj)},
            "state": state}


def export(model) -> bytes | None:
    """The numpy form of a fitted model, or None when its estimator has a step without one."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    estimator = getattr(model, "estimator", None)
    if not isinstance(estimator, Pipeline):
        return None
    writer = Writer()
    try:
        steps = [export_transform(step, writer, f"{i}.") for i, (_, step) in enumerate(estimator.steps[:-1])]
        steps.append(export_final(estimator.steps[-1][1], writer))
        spec = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": _model_state(model),
                "names": [name for name, _ in estimator.steps], "steps": steps}
        if getattr(model, "pool", None) is not None:  # the embedding active learning uses
            spec["pool"] = "in-features" if model.feature_mode != "present" \
                else export_transform(model.pool, writer, "pool.")
        writer.json("spec", spec)
    except (CannotExport, TypeError, ValueError):
        return None
    buffer = io.BytesIO()
    np.savez(buffer, **writer.arrays)
    return buffer.getvalue()


# ---------------------------------------------------------------- load (serving side)


def _allowed_class(module: str, name: str):
    if module not in {kind.module for kind in KINDS}:
        raise ValueError(f"numpy model form names module {module!r}, not a model kind's")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, ModelBase)):
        raise ValueError(f"numpy model form names {module}.{name}, not a model class")
    return cls


def load(body: bytes):
    """The model an `export` body holds, scoring with numpy alone."""
    import numpy as np

    with np.load(io.BytesIO(body), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}

    def text(name):
        return json.loads(arrays[name].tobytes().decode("utf-8"))

    def array(name):
        return None if name is None else arrays[name]

    spec = text("spec")
    if spec.get("format") != FORMAT or spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not an {FORMAT} v{FORMAT_VERSION} artifact")

    def build(step: dict):
        kind = step["type"]
        if kind == "identity":
            return Identity()
        if kind == "chain":
            return Chain([build(s) for s in step["steps"]])
        if kind == "union":
            return Union([build(p) for p in step["parts"]])
        if kind == "tfidf":
            return Tfidf(step["params"], text(step["vocabulary"]), array(step["idf"]))
        if kind == "projection":
            return Projection(build(step["tfidf"]), array(step["components"]))
        if kind == "dict":
            return DictColumns(step["params"], text(step["feature_names"]))
        if kind == "scaler":
            return Scaler(array(step["mean"]), array(step["scale"]))
        if kind == "linear":
            return Linear(step["link"], array(step["coef"]), array(step["intercept"]), array(step.get("constant")))
        raise ValueError(f"unknown step type {kind!r}")

    described = spec["model"]
    cls = _allowed_class(described["module"], described["class"])
    model = cls.__new__(cls)
    model.__dict__.update(described["state"])
    model.target = Target(Control(**described["target"]["control"]), ObjectTag(**described["target"]["obj"]))
    model.estimator = NumpyPipeline([(name, build(step)) for name, step in zip(spec["names"], spec["steps"])])
    if spec.get("pool"):
        model.pool = _projection_in(model.estimator.steps[0][1]) if spec["pool"] == "in-features" \
            else build(spec["pool"])
    return model


def _projection_in(step):
    """The pool Projection a feature step is or holds (a union's part)."""
    if isinstance(step, Projection):
        return step
    for part in getattr(step, "parts", ()):
        found = _projection_in(part)
        if found is not None:
            return found
    return None
