"""Auto-labelling at a guaranteed accuracy (`ml.auto_label`, off by default).

1. Calibration, per model version, at training: the version's predictions on the project's
   validation set (domain/validation_set.py: human labels it did not train on) give the lowest
   pre-declared confidence threshold whose accuracy is at least `target_accuracy` with probability
   `confidence` (domain/calibration.py). Stored with the version with the per-threshold counts it
   was computed from, so changed settings re-calibrate every version at once (`effective`); a
   version that cannot show the target auto-labels nothing.
2. Labelling, in the rescoring pass (services/rescoring_chunk.py; `chunk_policy` gives the planner,
   domain/rescoring_plan.judge_task, what it decides with): an unlabelled task
   the active version predicts at or above its threshold gets that prediction as its auto label
   (marked `auto`) and leaves the human queues, except a stable `audit_rate` share (a hash of the
   task id) that stays queued so people check it. The next version re-judges every auto label: it
   keeps, replaces or withdraws it (the task goes back to the pool); a version that cannot meet the
   target withdraws only the labels it contradicts (`judge_task`). Changing `ml.auto_label`
   re-judges the pool with the active version at once (services/projects.py).
3. People win: a human completion takes the task off auto-labelling for good (the auto label is
   kept only to be audited). Auto labels never train a model unless `train_on_auto` is set.
4. Audit: when an audited task is accepted, whether people agreed with its auto label is counted
   once (store/auto_labels.py). If the upper confidence bound of the audited accuracy falls below
   the target, auto-labelling pauses for the project (`status` says why).

Classification kinds (Choices, single or multiple, and Taxonomy): the confidence is the predicted
class's probability (for a set of choices, the mean probability of the chosen ones).
"""
import logging
from functools import lru_cache

from chalicelib.domain.calibration import Calibration, calibrate, calibrate_counts, clopper_pearson_lower
from chalicelib.domain.rescoring_plan import AutoPolicy, audited  # noqa: F401 (audited: the audit share)
from chalicelib.domain.settings import auto_label_settings
from chalicelib.store import auto_labels
from chalicelib.store import training as training_db
from chalicelib.telemetry import metrics

log = logging.getLogger("activelabel.services.auto_labeling")

MIN_AUDITED_TO_PAUSE = 20  # audited tasks before the audit may pause auto-labelling


def supports(model) -> bool:
    """Classification kinds: single or multiple Choices (text, image, tabular) and Taxonomy. A
    prediction is right when it equals the human label (the whole set, the whole path)."""
    return getattr(model, "problem", None) in ("classification", "multilabel") \
        and model.control.type in ("Choices", "Taxonomy")


def calibrate_version(project, model, validation: list, held_out: bool, held_out_scores=None) -> dict | None:
    """The calibration to store with a freshly trained version (None when auto-labelling cannot
    apply to its kind). Computed whether or not auto-labelling is on, so turning it on later uses it.
    `held_out_scores`: the model's HeldOutScores on `validation` from training (ml/training.py),
    used instead of encoding and scoring the validation tasks again."""
    if not supports(model):
        return None
    settings = auto_label_settings(project.settings)
    scored: list[tuple[float, bool]] = []
    if held_out and validation:
        examples = [model.example(t.data, t.consensus) for t in validation]
        kept = [e for e in examples if e is not None]
        if kept:
            reuse = held_out_scores is not None and held_out_scores.owner is model \
                and held_out_scores.examples == examples
            predicted = held_out_scores.scored if reuse else model.scored(model.encode([raw for raw, _ in kept]))
            scored = [(float(score), label == truth) for (label, score), (_, truth) in zip(predicted, kept)]
    result = calibrate(scored, settings["target_accuracy"], settings["confidence"], settings["min_validation"])
    if not held_out:
        result = Calibration(None, None, 0, 0, 0.0, settings["target_accuracy"], settings["confidence"],
                             "no validation set held out yet")
    return result.as_dict()


def audit_status(project, settings: dict) -> dict:
    n, correct = project.audit_n, project.audit_correct
    delta = 1.0 - settings["confidence"]
    lower = clopper_pearson_lower(n, correct, delta / 2) if n else None
    upper = 1.0 - clopper_pearson_lower(n, n - correct, delta / 2) if n else None
    paused = n >= MIN_AUDITED_TO_PAUSE and upper < settings["target_accuracy"]
    reason = (f"paused: the audit found {correct} of {n} auto labels right; at confidence {settings['confidence']} "
              f"their accuracy is at most {upper:.3f}, below the target {settings['target_accuracy']}") if paused else None
    return {"audited": n, "agreed": correct, "accuracy": correct / n if n else None,
            "interval": [lower, upper] if n else None, "paused": paused, "reason": reason}


def effective(calibration: dict | None, settings: dict) -> dict | None:
    """A version's calibration under the project's current settings: re-computed from the
    threshold counts stored with it (the validation predictions are not needed), so a changed
    target, confidence or min_validation applies to the versions already trained. A record stored
    without counts keeps its own only while the target and confidence it was made for stand."""
    if not calibration or not calibration.get("validation_size"):
        return calibration
    wanted = (settings["target_accuracy"], settings["confidence"], settings["min_validation"])
    counts = calibration.get("counts")
    if counts:
        return dict(_recalibrated(tuple(tuple(c) for c in counts), int(calibration["validation_size"]), *wanted))
    if (calibration.get("target_accuracy"), calibration.get("confidence")) == wanted[:2]:
        return calibration
    return {**calibration, "threshold": None, "lower_bound": None, "covered": 0, "expected_coverage": 0.0,
            "reason": f"calibrated for accuracy {calibration.get('target_accuracy')} at confidence "
                      f"{calibration.get('confidence')}; the next version is calibrated for the settings now"}


@lru_cache(maxsize=256)
def _recalibrated(counts: tuple, n: int, target_accuracy: float, confidence: float, min_validation: int) -> dict:
    return calibrate_counts(counts, n, target_accuracy, confidence, min_validation).as_dict()


def gate(project, settings: dict) -> str | None:
    """Why auto-labelling is closed for the whole project (turned off, or paused by the audit)."""
    if not settings["enabled"]:
        return "auto-labelling is off (ml.auto_label.enabled)"
    audit = audit_status(project, settings)
    return audit["reason"] if audit["paused"] else None


def policy(project, calibration: dict | None) -> tuple[float | None, dict, str]:
    """(threshold or None, settings, why not) for a version of the project now."""
    settings = auto_label_settings(project.settings)
    closed = gate(project, settings)
    if closed:
        return None, settings, closed
    calibration = effective(calibration, settings)
    if not calibration or calibration.get("threshold") is None:
        return None, settings, (calibration or {}).get("reason") or "the active version has no calibration"
    return float(calibration["threshold"]), settings, "active"


def chunk_policy(project, version: int, model, tasks: list, record=None) -> AutoPolicy | None:
    """What the planner (domain/rescoring_plan.judge_task) needs to judge a chunk's auto labels with
    `version`: the gate, its threshold, and the threshold of each version whose labels the chunk
    holds, re-computed under the current settings (each version's record read once; `record`:
    `version`'s, when the caller has read it). None when auto-labelling cannot apply to the model's kind."""
    if not supports(model):
        return None
    settings = auto_label_settings(project.settings)
    closed = gate(project, settings) is not None
    standing: dict[int, float | None] = {}

    def read(wanted: int) -> None:
        found = record if wanted == version and record is not None \
            else training_db.get_model_version(project.project_id, wanted)
        standing[wanted] = policy(project, getattr(found, "calibration", None))[0]

    if not closed:
        read(version)
        if standing[version] is None:  # then the labels standing keep their own version's threshold
            for other in {int(t.auto_version) for t in tasks if t.auto_version is not None} - {version}:
                read(other)
    return AutoPolicy(closed=closed, threshold=standing.get(version), standing=standing,
                      audit_rate=float(settings["audit_rate"]), control=model.control.name)


def record_audit(project_id: str, task, consensus: dict | None) -> None:
    """Called when a task people labelled is (re)judged: if it was auto-labelled, count once
    whether people agreed with the auto label."""
    auto = task.auto_label
    if not auto or consensus is None:
        return
    agreed = sorted(consensus.get(auto.get("control"), []) or []) == sorted(auto.get("answer") or [])
    if auto_labels.count_audit_once(project_id, task.task_id, agreed):
        log.info("project %s: audit of task %s: %s", project_id, task.task_id, "agreed" if agreed else "disagreed")
        metrics.emit({"AuditAccuracy": 1.0 if agreed else 0.0}, project_id)  # its Average is the accuracy


def status(project) -> dict:
    """What /training shows of auto-labelling."""
    record = training_db.get_model_version(project.project_id, int(project.active_version)) \
        if project.active_version is not None else None
    calibration = getattr(record, "calibration", None)
    threshold, settings, why = policy(project, calibration)
    return {"enabled": settings["enabled"], "active": threshold is not None, "reason": why,
            "calibration": effective(calibration, settings), "audit": audit_status(project, settings)}


def training_examples(project_id: str) -> list[tuple[dict, dict]]:
    """(data, consensus-shaped label) of the tasks whose auto label stands in for a human one,
    for training with `train_on_auto`."""
    out = []
    for task in auto_labels.auto_labelled_tasks(project_id):
        auto = task.auto_label or {}
        if auto.get("control"):
            out.append((task.data, {auto["control"]: auto.get("answer")}))
    return out
