"""Fit and evaluate a model kind on accepted tasks; (de)serialize it with joblib.

Evaluation: with at least 100 examples, a stratified 20% hold-out; with fewer, stratified
k-fold cross-validation (k = min(5, smallest class size)); the shipped model is then refit on
every example. Metrics: accuracy, macro-F1, n_train, n_eval, method.
"""
import io
from dataclasses import dataclass

from chalicelib.errors import TrainingDataError
from chalicelib.ml.registry import ModelKind, Target

HOLDOUT_MIN_EXAMPLES = 100


@dataclass
class TrainingOutcome:
    model: object
    metrics: dict
    n_train: int


def collect_examples(model, accepted: list[tuple[dict, dict]]):
    inputs, labels = [], []
    for data, consensus in accepted:
        example = model.example(data, consensus)
        if example is not None:
            inputs.append(example[0])
            labels.append(example[1])
    return inputs, labels


def _scores(y_true, y_pred) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def evaluate(model, inputs: list, labels: list, seed: int) -> dict:
    from collections import Counter

    counts = Counter(labels)
    smallest = min(counts.values())
    class_counts = dict(sorted(counts.items()))
    if len(labels) >= HOLDOUT_MIN_EXAMPLES and smallest >= 2:
        from sklearn.model_selection import train_test_split

        x_fit, x_eval, y_fit, y_eval = train_test_split(
            inputs, labels, test_size=0.2, stratify=labels, random_state=seed)
        predicted = model.fit(x_fit, y_fit).pipeline.predict(x_eval)
        return {**_scores(y_eval, predicted), "method": "holdout-20%", "n_eval": len(y_eval),
                "class_counts": class_counts}
    if smallest >= 2:
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = min(5, smallest)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        predicted = cross_val_predict(model.build(), inputs, labels, cv=splitter)
        return {**_scores(labels, predicted), "method": f"cross-validation-{folds}-fold", "n_eval": len(labels),
                "class_counts": class_counts}
    return {"accuracy": None, "macro_f1": None, "method": "none: a class has a single example",
            "n_eval": 0, "class_counts": class_counts}


def train(kind: ModelKind, target: Target, accepted: list[tuple[dict, dict]], seed: int = 0) -> TrainingOutcome:
    """Fit `kind` on accepted (data, consensus) pairs. Raises TrainingDataError when it cannot."""
    model = kind.implementation()(target, seed=seed)
    inputs, labels = collect_examples(model, accepted)
    distinct = sorted(set(labels))
    if len(distinct) < 2:
        raise TrainingDataError(
            f"need at least 2 distinct labels of control {target.control.name!r} among accepted tasks; "
            f"got {len(inputs)} examples of {distinct}"
        )
    metrics = evaluate(model, inputs, labels, seed)
    model.fit(inputs, labels)
    metrics["n_train"] = len(labels)
    return TrainingOutcome(model=model, metrics=metrics, n_train=len(labels))


def serialize(model) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def deserialize(body: bytes):
    import joblib

    return joblib.load(io.BytesIO(body))


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
