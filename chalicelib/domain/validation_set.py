"""A project's validation set: held-out human labels that no model version trains on.

Membership is a stable hash of (project id, task id), as SageMaker Ground Truth splits a labeling
job: a task is in the validation share or it is not, for ever, whatever else the project does.
So every version of a project holds out the same tasks, and a new version (the challenger) and the
active one (the champion) can both be scored on labels neither has seen.

Holding out starts only once the share holds at least VALIDATION_FLOOR accepted tasks: below that,
a comparison could not tell two models apart (see domain/promotion.py) and a small project needs
every label to train on. A version trained before that floor was reached trained on validation
tasks too; it records `held_out: false`, and a challenger is then promoted without a comparison
(the comparison would favour the champion, which has seen the answers).

Pure: no I/O. Shared with auto-labeling (one validation mechanism for both).
"""
import hashlib

VALIDATION_SHARE = 0.2
VALIDATION_FLOOR = 10  # accepted validation tasks before any are held out


def in_validation(project_id: str, task_id: int, share: float = VALIDATION_SHARE) -> bool:
    """True when the task belongs to the project's validation share (stable across versions)."""
    digest = hashlib.sha256(f"{project_id}/{int(task_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def split(project_id: str, tasks: list, task_id=lambda t: t.task_id, floor: int = VALIDATION_FLOOR,
          share: float = VALIDATION_SHARE) -> tuple[list, list, bool]:
    """(training tasks, validation tasks, held_out). Below the floor nothing is held out: every
    task trains and the validation list is empty."""
    validation = [t for t in tasks if in_validation(project_id, task_id(t), share)]
    if len(validation) < floor:
        return list(tasks), [], False
    chosen = {id(t) for t in validation}
    return [t for t in tasks if id(t) not in chosen], validation, True
