"""Champion / challenger for a freshly trained version: score it and the active version on the
project's validation set (domain/validation_set.py) and decide (domain/promotion.py) under the
project's `ml.promotion` and `ml.pinned_version`.

Both sides are judges: models fit without the validation set. A version's served model is refit
on every label (ml/training.py), so the champion's side is read from the predictions its judge
stored at its training (store/validation_predictions.py); only validation tasks accepted since
(which its served model never saw) are predicted by the served champion. The test compares two
runs of the same procedure on the same held-out labels; each served model is that procedure
with the same validation labels added, so the decision carries over to them."""
import hashlib
import json
import logging

from chalicelib.domain import promotion
from chalicelib.domain.validation_set import VALIDATION_FLOOR
from chalicelib.errors import ArtifactIntegrityError, ValidationError
from chalicelib.ml import training
from chalicelib.services import prediction
from chalicelib.store import training as training_db
from chalicelib.store import validation_predictions

log = logging.getLogger("activelabel.services.promotion")


def examples_of(model, tasks: list, scored=None) -> list:
    """`model.example` of each task. Taken from `scored` when it was computed from these very
    (data, consensus) objects by a model of the same class and target: `example` reads nothing else."""
    if scored is not None and scored.pairs is not None and type(scored.owner) is type(model) \
            and scored.owner.target == model.target and len(scored.pairs) == len(tasks) \
            and all(data is t.data and consensus is t.consensus for (data, consensus), t in zip(scored.pairs, tasks)):
        return scored.examples
    return [model.example(t.data, t.consensus) for t in tasks]


def qualities(model, tasks: list, scored=None, known: dict | None = None) -> list[float] | None:
    """Per-task quality of `model` on validation tasks (None if a task gives it no example).

    `scored` (ml/training.py HeldOutScores of these tasks, in order): inputs already encoded for
    them. When they are this model's own predictions (`scored.owner`) they are used as they are;
    otherwise, when this model reads the same raw inputs and is of the same class (`encode` is the
    class's code), it predicts on those encoded inputs instead of encoding (fetching) again.
    `known`: this model's stored validation predictions (`prediction_document` of its own
    training): a task found there with the same input is not predicted again."""
    examples = examples_of(model, tasks, scored)
    if any(e is None for e in examples):
        return None
    truth = [label for _, label in examples]
    if scored is not None and scored.examples == examples and scored.owner is model:
        predicted = list(model.predict_scored(scored.scored))
    else:
        predicted = _predicted(model, tasks, examples, scored, (known or {}).get("predictions") or {})
    scale = promotion.regression_scale(truth) if model.problem == "regression" else 1.0
    return [promotion.task_quality(model.problem, t, p, scale) for t, p in zip(truth, predicted)]


def _predicted(model, tasks: list, examples: list, scored, known: dict) -> list:
    """`model`'s predictions on the examples: the stored ones where the input is unchanged, the
    others predicted (on `scored`'s encoded inputs when this model reads them, else encoded here)."""
    predicted, missing = [None] * len(examples), []
    for i, (task, (raw, _)) in enumerate(zip(tasks, examples)):
        entry = known.get(str(task.task_id)) if known else None
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == input_digest(raw):
            predicted[i] = _restored(entry[1])
        else:
            missing.append(i)
    if not missing:
        return predicted
    if scored is not None and type(scored.owner) is type(model) \
            and [raw for raw, _ in scored.kept()] == [raw for raw, _ in examples]:
        fresh = model.predict(scored.X if len(missing) == len(examples) else training._take(scored.X, missing))
    else:
        fresh = model.predict(model.encode([examples[i][0] for i in missing]))
    for i, value in zip(missing, fresh):
        predicted[i] = value
    return predicted


def input_digest(raw) -> str:
    """A short digest of a model's raw input (text, table row, image URL)."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _plain(value):
    """A prediction as JSON: tuples (multi-label, spans) as lists, numpy scalars as Python ones."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    return value.item() if hasattr(value, "item") else value


def _restored(value):
    """A stored prediction as `predict` gives it: lists back to tuples."""
    return tuple(_restored(v) for v in value) if isinstance(value, list) else value


def prediction_document(model, tasks: list, scored) -> dict | None:
    """The fresh version's predictions on the validation tasks, from its own HeldOutScores, to
    store with it (store/validation_predictions.py): {"predictions": {task id: [input digest,
    prediction]}}. None when it has no scores of these tasks."""
    if scored is None or scored.owner is not model or len(scored.examples) != len(tasks):
        return None
    labels = iter(model.predict_scored(scored.scored))
    out = {}
    for task, example in zip(tasks, scored.examples):
        if example is not None:
            out[str(task.task_id)] = [input_digest(example[0]), _plain(next(labels))]
    return {"format": 1, "predictions": out}


def _comparable(project, challenger, validation: list, held_out: bool, scored=None, champion=None):
    """(the champion's and the challenger's comparison, or None, and why not)."""
    if project.active_version is None:
        return None, "the project's first model"
    if not held_out:
        return None, (f"the validation set has fewer than {VALIDATION_FLOOR} accepted tasks; every label "
                      "trains until it has")
    active = project.active_version
    record = champion if champion is not None else training_db.get_model_version(project.project_id, active)
    if record is None or not (record.validation or {}).get("held_out"):
        return None, f"the active version v{active} trained on validation tasks (before any were held out)"
    try:
        champion = prediction.load_record(record)  # the record read above: the champion is read once
    except ArtifactIntegrityError as exc:
        return None, f"the active version v{active} cannot be loaded: {exc.message}"
    if type(champion) is not type(challenger) or champion.control.name != challenger.control.name:
        return None, f"the active version v{active} is another model or learns another control"
    known = validation_predictions.get(record)
    if known is None and (record.validation or {}).get("served_fit") == "all":
        # its served model trained on the validation tasks: only its judge's stored predictions are fair
        return None, f"the active version v{active}'s held-out validation predictions cannot be read"
    try:
        ours = qualities(challenger, validation, scored)
        theirs = qualities(champion, validation, scored, known)
    except ValidationError as exc:
        return None, f"a validation task cannot be read: {exc.message}"
    if ours is None or theirs is None:
        return None, "a validation task has no label for this control"
    return promotion.compare(ours, theirs), None


def judge(project, challenger, validation: list, held_out: bool, scored=None, champion=None) -> promotion.Decision:
    """`scored`: the challenger's HeldOutScores on `validation` from training, when it has them."""
    settings = project.settings
    comparison, why_not = _comparable(project, challenger, validation, held_out, scored, champion)
    decision = promotion.decide(settings["promotion"], settings["pinned_version"], comparison, why_not)
    log.info("project %s: %s (%s)", project.project_id, decision.status, decision.reason)
    return decision
