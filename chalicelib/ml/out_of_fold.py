"""Out-of-fold class probabilities: each example scored by a model of the same kind that did not
train on it (stratified k-fold), the input of confident learning (domain/suspects.py).

Uses only the model kind's interface (`example`, `encode`, `fresh`, `fit`, `predict_proba`,
`classes_`), not training's fit path. numpy and scikit-learn are imported here, lazily: this runs
in the suspects job only.
"""
import warnings
from collections import Counter
from dataclasses import dataclass

from chalicelib.errors import TrainingDataError
from chalicelib.ml import training
from chalicelib.ml.registry import ModelKind, Target

DEFAULT_FOLDS = 5
MIN_EXAMPLES = 10


@dataclass(frozen=True)
class OutOfFold:
    rows: list[int]  # positions (in the input list) of the examples kept: those with a label of the control
    labels: list[str]  # their human labels
    classes: list[str]  # the columns of `probabilities`
    probabilities: list[list[float]]  # one row per kept example, aligned with `classes`
    folds: int
    seed: int


def out_of_fold(kind: ModelKind, target: Target, examples: list[tuple[dict, dict]], folds: int = DEFAULT_FOLDS,
                seed: int = 0) -> OutOfFold:
    """`examples`: (data, consensus) pairs. Raises TrainingDataError when they cannot give
    out-of-fold probabilities (too few, one class, a class too small for every fold to hold it out)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    model = kind.implementation()(target, seed=seed)
    if getattr(model, "problem", None) != "classification" or not hasattr(model, "predict_proba"):
        raise TrainingDataError(f"model {kind.name!r} is not a single-label classifier: no suspects")
    rows, inputs, labels = [], [], []
    for i, (data, consensus) in enumerate(examples):
        example = model.example(data, consensus)
        if example is not None:
            rows.append(i)
            inputs.append(example[0])
            labels.append(str(example[1]))
    counts = Counter(labels)
    if len(labels) < MIN_EXAMPLES or len(counts) < 2:
        raise TrainingDataError(f"need at least {MIN_EXAMPLES} accepted tasks of 2 classes for out-of-fold "
                                f"probabilities; got {len(labels)} of {len(counts)}")
    k = max(2, min(folds, max(counts.values()), len(labels) // 2))
    X = training.encode(model, inputs)
    classes = sorted(counts)
    column = {c: j for j, c in enumerate(classes)}
    probabilities = np.zeros((len(labels), len(classes)))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class smaller than k: some folds hold none of it out, as intended
        splits = list(splitter.split(np.zeros(len(labels)), labels))
    for fit_idx, eval_idx in splits:
        fit_labels = [labels[i] for i in fit_idx]
        if len(set(fit_labels)) < 2:
            raise TrainingDataError("a fold's training part holds a single class: too few labels of the others")
        fitted = model.fresh().fit(training._take(X, fit_idx), fit_labels)
        proba = np.asarray(fitted.predict_proba(training._take(X, eval_idx)), dtype=float)
        for j, cls in enumerate(fitted.classes_):
            probabilities[eval_idx, column[str(cls)]] = proba[:, j]
    return OutOfFold(rows=rows, labels=labels, classes=classes,
                     probabilities=[[round(float(p), 6) for p in row] for row in probabilities], folds=k, seed=seed)
