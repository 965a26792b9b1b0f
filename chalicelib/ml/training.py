"""Fit and evaluate a model kind on accepted tasks; (de)serialize it (pickle; joblib artifacts read).

Inputs are encoded once (images fetched once). When the caller holds out labelled examples the
model never trains on (the worker passes the project's validation set, domain/validation_set.py),
the model is fit once on every training example and the metrics are its own on those held-out
examples (method "holdout-validation-set"); their encoded inputs and scored predictions are kept
on the outcome so champion / challenger and auto-label calibration score them without encoding
or predicting again. Otherwise (no validation set yet, or none of it readable) the metrics come
from fitting copies of the model: with at least 100 examples, a 20% hold-out (stratified for
single-label classification); with fewer, k-fold cross-validation (k = min(5, smallest class
size) for classification, min(5, n) otherwise); the shipped model is then fit on every example.
Metrics depend on the model's problem:
- classification: accuracy, macro_f1 (and class_counts);
- multilabel: subset accuracy, micro_f1, macro_f1 over choices;
- regression: mae, r2;
- spans: entity-level precision, recall, f1 (exact offsets and label);
plus method, n_eval and n_train.
"""
import io
import pickle
from collections import Counter
from dataclasses import dataclass

from chalicelib.errors import TrainingDataError, ValidationError
from chalicelib.ml import pool_representation
from chalicelib.ml.registry import ModelKind, Target

HOLDOUT_MIN_EXAMPLES = 100


@dataclass
class HeldOutScores:
    """`owner` (a fitted model) on held-out (data, consensus) pairs, in their order: `examples[i]` is
    the pair's (raw input, label) or None when it has no label for the model's control; `X` the
    encoded inputs and `scored` the (label, score) predictions of the examples that are not None;
    `pairs` the (data, consensus) pairs themselves."""

    owner: object
    examples: list
    X: object
    scored: list
    pairs: list | None = None

    def kept(self) -> list:
        return [e for e in self.examples if e is not None]


@dataclass
class TrainingOutcome:
    """`model` is the model to serve; `judge` the model the metrics and `held_out` scores belong to.
    They are one object unless `train` was asked to refit on the held-out examples too: then
    `judge` never saw them (the evidence for promotion and calibration) and `model` did (every
    human label trains what predicts and chooses the next task)."""

    model: object
    metrics: dict
    n_train: int
    held_out: HeldOutScores | None = None
    judge: object = None
    fitted: tuple | None = None  # (encoded inputs, labels) the judge was fit on, for the refit

    def __post_init__(self):
        if self.judge is None:
            self.judge = self.model


def collect_examples(model, accepted: list[tuple[dict, dict]]):
    inputs, labels = [], []
    for data, consensus in accepted:
        example = model.example(data, consensus)
        if example is not None:
            inputs.append(example[0])
            labels.append(example[1])
    return inputs, labels


def _r(value) -> float:
    return round(float(value), 4)


def span_scores(y_true: list, y_pred: list) -> dict:
    """Entity-level micro precision/recall/F1: a predicted span counts when offsets and label match."""
    true_positive = sum(len(set(t) & set(p)) for t, p in zip(y_true, y_pred))
    predicted = sum(len(set(p)) for p in y_pred)
    gold = sum(len(set(t)) for t in y_true)
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": _r(precision), "recall": _r(recall), "f1": _r(f1)}


def scores(problem: str, y_true: list, y_pred: list) -> dict:
    if problem == "spans":
        return span_scores(y_true, y_pred)
    if problem == "regression":
        from sklearn.metrics import mean_absolute_error, r2_score

        r2 = r2_score(y_true, y_pred) if len(set(y_true)) > 1 else float("nan")
        return {"mae": _r(mean_absolute_error(y_true, y_pred)), "r2": None if r2 != r2 else _r(r2)}
    if problem == "multilabel":
        from sklearn.metrics import accuracy_score, f1_score
        from sklearn.preprocessing import MultiLabelBinarizer

        binarizer = MultiLabelBinarizer().fit(list(y_true) + list(y_pred))
        t, p = binarizer.transform(y_true), binarizer.transform(y_pred)
        return {
            "accuracy": _r(accuracy_score(t, p)),
            "micro_f1": _r(f1_score(t, p, average="micro", zero_division=0)),
            "macro_f1": _r(f1_score(t, p, average="macro", zero_division=0)),
        }
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": _r(accuracy_score(y_true, y_pred)),
            "macro_f1": _r(f1_score(y_true, y_pred, average="macro", zero_division=0))}


def _take(X, indices):
    if hasattr(X, "shape"):
        return X[indices]
    return [X[i] for i in indices]


def _fit_predict(model, X, labels, fit_idx, eval_idx) -> list:
    fitted = model.fresh().fit(_take(X, fit_idx), [labels[i] for i in fit_idx])
    return list(fitted.predict(_take(X, eval_idx)))


def evaluate(model, X, labels: list, seed: int) -> dict:
    """Held-out metrics of `model`'s kind on encoded inputs X (the model itself is not fitted)."""
    import numpy as np

    problem = model.problem
    n = len(labels)
    extra = {}
    stratify = None
    folds = min(5, n)
    if problem == "classification":
        counts = Counter(labels)
        extra["class_counts"] = dict(sorted(counts.items()))
        smallest = min(counts.values())
        stratify = labels if smallest >= 2 else None
        folds = min(5, smallest)
    indices = np.arange(n)
    if n >= HOLDOUT_MIN_EXAMPLES and (problem != "classification" or stratify is not None):
        from sklearn.model_selection import train_test_split

        fit_idx, eval_idx = train_test_split(indices, test_size=0.2, stratify=stratify, random_state=seed)
        predicted = _fit_predict(model, X, labels, fit_idx, eval_idx)
        truth = [labels[i] for i in eval_idx]
        return {**scores(problem, truth, predicted), "method": "holdout-20%", "n_eval": len(eval_idx), **extra}
    if folds >= 2:
        from sklearn.model_selection import KFold, StratifiedKFold

        if problem == "classification":
            splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(indices, labels)
        else:
            splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(indices)
        predicted: list = [None] * n
        for fit_idx, eval_idx in splits:
            for i, p in zip(eval_idx, _fit_predict(model, X, labels, fit_idx, eval_idx)):
                predicted[i] = p
        return {**scores(problem, labels, predicted), "method": f"cross-validation-{folds}-fold", "n_eval": n,
                **extra}
    return {"method": "none: too few examples to hold any out", "n_eval": 0, **extra}


def check_trainable(problem: str, control_name: str, labels: list) -> None:
    """Raise TrainingDataError when these labels cannot train a model of this problem."""
    if problem == "spans":
        if len(labels) < 2 or not any(labels):
            raise TrainingDataError(
                f"need at least 2 accepted tasks and one labelled span of control {control_name!r}; "
                f"got {len(labels)} tasks with {sum(len(x) for x in labels)} spans")
        return
    distinct = sorted(set(labels), key=repr)
    if len(distinct) < 2:
        what = "values" if problem == "regression" else "labels"
        raise TrainingDataError(
            f"need at least 2 distinct {what} of control {control_name!r} among accepted tasks; "
            f"got {len(labels)} examples of {distinct[:5]}")


def encode(model, inputs: list):
    """Inputs -> features; media that cannot be read is a data problem (not retried)."""
    try:
        return model.encode(inputs)
    except ValidationError as exc:
        raise TrainingDataError(f"cannot read an input of control {model.control.name!r}: {exc.message}") from None


def score_held_out(model, held_out: list[tuple[dict, dict]]) -> HeldOutScores | None:
    """The fitted model's predictions on held-out pairs; None when none of them has a label for its
    control or an input cannot be read (the caller then evaluates by refitting)."""
    examples = [model.example(data, consensus) for data, consensus in held_out]
    kept = [e for e in examples if e is not None]
    if not kept:
        return None
    try:
        X = model.encode([raw for raw, _ in kept])
    except ValidationError:
        return None
    return HeldOutScores(owner=model, examples=examples, X=X, scored=model.scored(X), pairs=list(held_out))


def held_out_metrics(model, scored: HeldOutScores, labels: list) -> dict:
    truth = [label for _, label in scored.kept()]
    predicted = model.predict_scored(scored.scored)
    extra = {"class_counts": dict(sorted(Counter(labels).items()))} if model.problem == "classification" else {}
    return {**scores(model.problem, truth, predicted), "method": "holdout-validation-set", "n_eval": len(truth),
            **extra}


def quality(problem: str, metrics: dict) -> float:
    """The one figure feature modes are compared by: macro-F1 (classification, multilabel), F1
    (spans), -MAE (regression)."""
    if problem == "regression":
        return -float(metrics.get("mae", float("inf")))
    return float(metrics.get("f1" if problem == "spans" else "macro_f1", 0.0))


def train_choosing_features(kind: ModelKind, target: Target, accepted: list[tuple[dict, dict]], seed: int,
                            held_out: list[tuple[dict, dict]] | None, pool) -> TrainingOutcome:
    """`train` with the project's pool representation (ml/pool_representation.py): with held-out
    examples, one judge per feature mode, the best on them (ties to the earlier mode) refit on every
    example; without, the default mode. The modes' figures are in the metrics ("features")."""
    if pool is None:
        return train(kind, target, accepted, seed, held_out, refit_with_held_out=True)
    if not held_out:
        return train(kind, target, accepted, seed, pool=pool, mode=pool_representation.DEFAULT_MODE)
    tried = {mode: train(kind, target, accepted, seed, held_out, pool=pool, mode=mode)
             for mode in pool_representation.MODES}
    if any(o.held_out is None for o in tried.values()):  # held-out inputs unreadable: no fair choice
        return train(kind, target, accepted, seed, held_out, refit_with_held_out=True, pool=pool,
                     mode=pool_representation.DEFAULT_MODE)
    problem = tried["present"].judge.problem
    figures = {mode: quality(problem, o.metrics) for mode, o in tried.items()}
    chosen = max(pool_representation.MODES, key=lambda mode: (figures[mode], -pool_representation.MODES.index(mode)))
    outcome = refit_with_held_out_examples(tried[chosen])
    outcome.metrics["features"] = {"chosen": chosen, "validation": {m: round(v, 4) for m, v in figures.items()}}
    return outcome


def train(kind: ModelKind, target: Target, accepted: list[tuple[dict, dict]], seed: int = 0,
          held_out: list[tuple[dict, dict]] | None = None, refit_with_held_out: bool = False,
          pool=None, mode: str = "present") -> TrainingOutcome:
    """Fit `kind` on accepted (data, consensus) pairs, evaluated on `held_out` pairs when given
    (see the module's docstring). With `refit_with_held_out`, the model to serve is then fit again
    on the accepted and the held-out examples together, on the inputs already encoded (images are
    not fetched twice), and the first fit stays the outcome's `judge`. Raises TrainingDataError
    when it cannot."""
    model = kind.implementation()(target, seed=seed)
    if pool is not None:
        model.use_pool(pool, mode)
    inputs, labels = collect_examples(model, accepted)
    check_trainable(model.problem, target.control.name, labels)
    X = encode(model, inputs)
    scored = None
    if held_out:
        model.fit(X, labels)
        scored = score_held_out(model, held_out)
        metrics = evaluate(model, X, labels, seed) if scored is None else held_out_metrics(model, scored, labels)
    else:
        metrics = evaluate(model, X, labels, seed)
        model.fit(X, labels)
    metrics["n_train"] = len(labels)
    outcome = TrainingOutcome(model=model, metrics=metrics, n_train=len(labels), held_out=scored,
                              fitted=(X, labels))
    return refit_with_held_out_examples(outcome) if refit_with_held_out else outcome


def refit_with_held_out_examples(outcome: TrainingOutcome) -> TrainingOutcome:
    """The served model fit again on the judge's examples and its held-out ones (their inputs as
    encoded for it); the judge stays the outcome's evidence. Unchanged without held-out scores."""
    scored = outcome.held_out
    if scored is None or outcome.fitted is None:
        return outcome
    X, labels = outcome.fitted
    every_label = labels + [label for _, label in scored.kept()]
    judge = outcome.judge
    served = judge.fresh().fit(_concat(X, scored.X), every_label)
    metrics = {**outcome.metrics, "n_train": len(every_label), "n_fit_judged": len(labels)}
    return TrainingOutcome(model=served, metrics=metrics, n_train=len(every_label), held_out=scored, judge=judge)


def _concat(first, second):
    """Two encoded input batches of one model as one (lists, dense or sparse arrays)."""
    if isinstance(first, list):
        return first + list(second)
    import numpy as np

    if hasattr(first, "tocsr"):
        from scipy.sparse import vstack

        return vstack([first, second]).tocsr()
    return np.concatenate([np.asarray(first), np.asarray(second)])


def one_blas_thread():
    """A context in which BLAS (OpenBLAS under numpy and scipy) runs on one thread, for a training's
    compute. scipy's L-BFGS-B (the lbfgs solver of LogisticRegression) makes small level-1 BLAS calls
    on every iteration; with OpenBLAS's own threads those calls wait on each other and the fit takes
    several times longer than on one thread (scipy issues 22438 and 23191, OpenBLAS issue 5383),
    while the fits here are too small for threaded BLAS to pay. The fitted models agree with the
    threaded ones to floating-point rounding."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def serialize(model) -> bytes:
    """The model as a standard pickle (protocol 5), which `joblib.load` reads too. joblib's own
    writer subclasses the pure-Python pickler: on a TF-IDF model (~100k vocabulary strings) it
    takes about as long as the fit, the C pickler a few percent of it."""
    return pickle.dumps(model, protocol=5)


def deserialize(body: bytes):
    """A `serialize`d model, or a joblib artifact (written before serialize used pickle: its arrays
    are NumpyArrayWrapper records only joblib's unpickler reads)."""
    if b"NumpyArrayWrapper" in body:
        import joblib

        return joblib.load(io.BytesIO(body))
    return pickle.loads(body)


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
