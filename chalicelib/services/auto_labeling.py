"""Auto-labelling at a guaranteed accuracy (`ml.auto_label`, off by default).

1. Calibration, per model version, at training: the version's predictions on the project's
   validation set (domain/validation_set.py: human labels it did not train on) give the lowest
   pre-declared confidence threshold whose accuracy is at least `target_accuracy` with probability
   `confidence` (domain/calibration.py). Stored with the version with the per-threshold counts it
   was computed from, so changed settings re-calibrate every version at once (`effective`); a
   version that cannot show the target auto-labels nothing.
2. Labelling, in the rescoring pass (services/rescoring.py calls `label_chunk`): an unlabelled task
   the active version predicts at or above its threshold gets that prediction as its auto label
   (marked `auto`) and leaves the human queues, except a stable `audit_rate` share (a hash of the
   task id) that stays queued so people check it. The next version re-judges every auto label: it
   keeps, replaces or withdraws it (the task goes back to the pool); a version that cannot meet the
   target withdraws only the labels it contradicts (`label_chunk`). Changing `ml.auto_label`
   re-judges the pool with the active version at once (services/projects.py).
3. People win: a human completion takes the task off auto-labelling for good (the auto label is
   kept only to be audited). Auto labels never train a model unless `train_on_auto` is set.
4. Audit: when an audited task is accepted, whether people agreed with its auto label is counted
   once (store/auto_labels.py). If the upper confidence bound of the audited accuracy falls below
   the target, auto-labelling pauses for the project (`status` says why).

Classification kinds (Choices, single or multiple, and Taxonomy): the confidence is the predicted
class's probability (for a set of choices, the mean probability of the chosen ones).
"""
import hashlib
import logging
from functools import lru_cache

from chalicelib.domain.calibration import Calibration, calibrate, calibrate_counts, clopper_pearson_lower
from chalicelib.domain.settings import auto_label_settings
from chalicelib.services import labelstudio_stream
from chalicelib.store import auto_labels
from chalicelib.store import training as training_db

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


def audited(task_id: int, rate: float) -> bool:
    """A stable `rate` share of tasks (the same tasks for every version)."""
    digest = hashlib.sha256(f"audit/{int(task_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < rate


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


class _Standing:
    """Whether an auto label a version gave still stands under the current settings: that version
    still meets the target (its calibration re-computed), and the label's score is at or above its
    threshold. Each version's record is read once per chunk."""

    def __init__(self, project, model):
        self.project, self.model = project, model
        self.thresholds: dict[int, float | None] = {}

    def threshold_of(self, version: int) -> float | None:
        if version not in self.thresholds:
            record = training_db.get_model_version(self.project.project_id, version)
            self.thresholds[version] = policy(self.project, getattr(record, "calibration", None))[0]
        return self.thresholds[version]

    def __call__(self, task, label) -> bool:
        auto = task.auto_label or {}
        if task.auto_version is None or list(auto.get("answer") or []) != self.model.answer_of(label):
            return False  # contradicted by the version judging it
        threshold = self.threshold_of(int(task.auto_version))
        return threshold is not None and float(auto.get("score") or 0.0) >= threshold


def label_chunk(project, version: int, model, tasks: list, inputs) -> dict:
    """Auto-label (or re-judge) a rescoring chunk's unlabelled and auto-labelled tasks for `version`
    (`inputs`: their encoded inputs, as rescoring encoded them). Returns {"labelled", "withdrawn"}.

    A version that meets the target labels what it predicts at or above its threshold and withdraws
    every other auto label. A version that cannot meet it labels nothing and withdraws only the
    auto labels it contradicts, or whose own version no longer meets the target under the current
    settings: the labels standing are those of the last version that could, so one unlucky
    validation draw does not send the whole pool back to people. Turned off or paused by the audit:
    every auto label is withdrawn."""
    if not tasks or not supports(model):
        return {"labelled": 0, "withdrawn": 0}
    settings = auto_label_settings(project.settings)
    labelled = withdrawn = 0
    move = project.activation_seq  # the version judges in this epoch of the pointer (store/auto_labels.epoch)
    in_ls: dict[int, dict] = {}  # what Label Studio's tasks get (with ml.labelstudio_stream)
    if gate(project, settings):
        for task in tasks:
            if task.auto_project is not None:
                withdrawn += auto_labels.withdraw(project.project_id, task.task_id, version, move)
        _to_labelstudio(project, version, tasks, in_ls)
        return {"labelled": 0, "withdrawn": withdrawn}
    stands = _Standing(project, model)
    threshold = stands.threshold_of(version)
    for task, (label, score) in zip(tasks, model.scored(inputs)):
        task_id = task.task_id
        if threshold is not None and score >= threshold:
            auto = {"result": model.result_items(label, score), "score": round(float(score), 6),
                    "model_version": f"v{version}", "auto": True,
                    "control": model.control.name, "answer": model.answer_of(label)}
            audit = audited(task_id, settings["audit_rate"])
            labelled += auto_labels.apply(project.project_id, task_id, auto, version, audit=audit, move=move)
            if not audit:
                in_ls[task_id] = auto
        elif task.auto_project is not None and (threshold is not None or not stands(task, label)):
            withdrawn += auto_labels.withdraw(project.project_id, task_id, version, move)
        elif task.auto_project is not None and task.pool_project is None and task.auto_label:
            in_ls[task_id] = task.auto_label  # an earlier version's label that still stands (not audited)
    _to_labelstudio(project, version, tasks, in_ls)
    return {"labelled": labelled, "withdrawn": withdrawn}


def _to_labelstudio(project, version: int, tasks: list, in_ls: dict[int, dict]) -> None:
    """The chunk's auto labels as annotations of its linked Label Studio project (when its stream
    follows activelabel): `in_ls` labelled, every other task people have not labelled cleared."""
    cleared = [t.task_id for t in tasks if t.task_id not in in_ls and not t.completion_seq]
    labelstudio_stream.auto_labels(project, version, in_ls, cleared)


def record_audit(project_id: str, task, consensus: dict | None) -> None:
    """Called when a task people labelled is (re)judged: if it was auto-labelled, count once
    whether people agreed with the auto label."""
    auto = task.auto_label
    if not auto or consensus is None:
        return
    agreed = sorted(consensus.get(auto.get("control"), []) or []) == sorted(auto.get("answer") or [])
    if auto_labels.count_audit_once(project_id, task.task_id, agreed):
        log.info("project %s: audit of task %s: %s", project_id, task.task_id, "agreed" if agreed else "disagreed")


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
