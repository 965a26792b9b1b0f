"""A model run over one rescoring chunk, once: the features computed once, `predict_proba` once,
and what the planner (domain/rescoring_plan.py) reads from them.

    run = run_model(model, tasks_data, embed=strategy needs a feature embedding)
    served = readings(model, run)                    # one Reading per row
    ranks = rank_rows(strategy, run, rows, task_ids, seed)   # one Rank per pooled row

Kinds with class probabilities (Choices, Taxonomy) read everything from `run.probabilities`;
kinds without (spans, numbers) give no ranks and their readings come from `model.scored`.
numpy is imported inside the functions only (the API imports the ml package at cold start).
"""
from dataclasses import dataclass

from chalicelib.domain.rescoring_plan import Rank, Reading
from chalicelib.ml import sampling
from chalicelib.ml.base import ChoicesModel
from chalicelib.ml.numpy_form.arrays import Rows
from chalicelib.ml.numpy_form.container import NumpyPipeline


@dataclass
class ModelRun:
    inputs: object  # the encoded inputs (what `predict_proba` reads)
    probabilities: object | None  # n x classes, None for kinds without class probabilities
    embedding: object | None  # the classifier's input features (diversity strategies), or None


def _probabilities_and_features(model, X, embed: bool):
    """(probabilities, embedding): the pipeline's feature steps run once when both are wanted."""
    if embed and getattr(model, "pool", None) is not None:  # diversity in the pool representation
        return model.predict_proba(X), model.embedding(X)
    pipeline = getattr(model, "estimator", None)
    steps = getattr(pipeline, "steps", None)
    plain = type(model).predict_proba is ChoicesModel.predict_proba and not hasattr(model, "embed")
    if embed and plain and steps and len(steps) > 1:
        if isinstance(pipeline, NumpyPipeline):  # its final step reads the rows as the transforms leave them
            features = pipeline._features(X)
            return steps[-1][1].predict_proba(features), features.tocsr() if isinstance(features, Rows) else features
        features = pipeline[:-1].transform(X)
        return steps[-1][1].predict_proba(features), features
    probabilities = model.predict_proba(X)
    return probabilities, sampling.feature_embedding(model, X) if embed else None


def run_model(model, samples: list[dict], embed: bool = False) -> ModelRun:
    """Encode `samples` (task data) once and run the model's class probabilities once."""
    X = model.inputs(samples)
    if not hasattr(model, "predict_proba") or not samples:
        return ModelRun(X, None, None)
    probabilities, embedding = _probabilities_and_features(model, X, embed)
    return ModelRun(X, probabilities, embedding)


def run_on(model, run: ModelRun) -> ModelRun:
    """Another model of the same kind on a run's encoded inputs (a version's judge, for auto labels)."""
    if not hasattr(model, "predict_proba") or run.probabilities is None:
        return ModelRun(run.inputs, None, None)
    return ModelRun(run.inputs, model.predict_proba(run.inputs), None)


def readings(model, run: ModelRun) -> list[Reading]:
    """The model's answer per row: score, Label Studio result items, and the answer as a consensus
    holds it (for auto labels; None for kinds that cannot auto-label)."""
    scored = model.scored_from(run.probabilities) if run.probabilities is not None and hasattr(
        model, "scored_from") else model.scored(run.inputs)
    answer_of = getattr(model, "answer_of", None)
    return [Reading(float(score), model.result_items(label, score), answer_of(label) if answer_of else None)
            for label, score in scored]


def _take(X, rows: list[int]):
    """Rows of a matrix (numpy, scipy sparse) or of a list."""
    return X[rows] if hasattr(X, "shape") else [X[i] for i in rows]


def rank_rows(strategy: str, run: ModelRun, rows: list[int], task_ids: list[int], seed: int) -> list[Rank] | None:
    """Priorities (and diversity clusters) of `rows` of the run, ranked together; None when the
    strategy needs class probabilities the kind does not have."""
    if not rows:
        return []
    if sampling.needs_model(strategy) and run.probabilities is None:
        return None
    probabilities = None if run.probabilities is None else _take(run.probabilities, rows)
    embedding = None if run.embedding is None else _take(run.embedding, rows)
    scores, clusters = sampling.ranked(strategy, probabilities, task_ids=task_ids, embedding=embedding, seed=seed)
    return [Rank(float(s), None if clusters is None or int(c) < 0 else int(c))
            for s, c in zip(scores, clusters if clusters is not None else [None] * len(task_ids))]
