"""The rescoring planner: what one chunk of a pass writes on each task, decided without I/O.

A pass is one job type per rescore-queue message (services/rescoring.py sends them,
services/rescoring_chunk.py handles them):

    rescore      after a promotion: the pool's priorities (and diversity clusters), the auto labels
                 judged when `ml.auto_label` is set or labels stand, and the predictions too when the
                 message says `predict` (one pass scores, predicts and judges)
    preannotate  predictions only (`POST /predictions`, a rollback or pin)
    rejudge      auto labels only (`ml.auto_label` changed, or a rollback or pin with it set)
    backfill     random keys only (no model, no planner: services/migrations/random_keys.py)
    suspects     one job per version (services/suspects.py, no planner)

How a handler uses it (the model runs once per chunk):

    selection = select(tasks, in_pool, work)     # which tasks the model reads, and for what
    # ... the handler encodes selection.encoded once and runs predict_proba once (ml/chunk_model.py);
    # served = readings of the served model, judge = readings for auto-labelling (the same list
    # today; a second, held-out model's readings later), ranks = priorities of selection.pooled
    updates = plan(selection, work, ranks=ranks, served=served, judge=judge, policy=policy)
    # ... one UpdateItem per update (store/task_plans.py), then the hook after a chunk is written

Inputs:
- `tasks`: the chunk's Task records as read (task_id, completion_seq, pool_project, score_version,
  auto_project, auto_version, auto_epoch, auto_label);
- `in_pool`: the task ids in the unlabeled pool (as read, or put there by the random-key backfill);
- `Work`: the job's version, the pointer's move number (auto label epochs) and what it does;
- `Reading`: one model's answer for one task (score, Label Studio result items, and the answer as a
  consensus holds it, None for kinds that cannot auto-label); `served` and `judge` are aligned with
  `selection.encoded` and are separate inputs so auto-labelling can read another model's probabilities;
- `Rank`: a pooled task's priority (lower = served first) and its diversity cluster (None when the
  strategy has no clusters, or the task was not a candidate), aligned with `selection.pooled`;
- `AutoPolicy`: the auto-labelling gate, the judging version's threshold, the thresholds of the
  versions whose labels the chunk holds, the audit rate.

Output: one `TaskUpdate` per task that gets anything: its rank, its stored prediction (carrying
`cluster` when it has one), the auto label to give (and whether it is audited) or the withdrawal of
the one standing. A part is planned only when the task as read lets it be written (the store's
conditions repeat each check in the write, so a race between the read and the write is refused there).
"""
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.records import Task

EPOCH_MOVE = 1_000_000  # an epoch is move * EPOCH_MOVE + version (versions stay below a million)


def epoch(move: int, version: int) -> int:
    """When an auto label was written: the project's count of pointer moves by hand (rollback, pin:
    `activation_seq`), then the version (store/auto_labels.py holds the write side)."""
    return int(move or 0) * EPOCH_MOVE + int(version)


def audited(task_id: int, rate: float) -> bool:
    """A stable `rate` share of tasks (the same tasks for every version)."""
    digest = hashlib.sha256(f"audit/{int(task_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < rate


@dataclass(frozen=True)
class Work:
    """What a job asks of a chunk, for model `version` judging in pointer move `move`."""

    version: int
    score: bool = False
    predict: bool = False
    judge: bool = False
    move: int = 0

    @property
    def model_version(self) -> str:
        return f"v{self.version}"


@dataclass(frozen=True)
class Reading:
    score: float
    result: list
    answer: list | None = None


@dataclass(frozen=True)
class Rank:
    priority: float
    cluster: int | None = None


@dataclass(frozen=True)
class AutoPolicy:
    closed: bool  # turned off or paused by the audit: every auto label is withdrawn
    threshold: float | None  # the judging version's (None: it cannot show the target)
    standing: Mapping[int, float | None] = field(default_factory=dict)  # threshold per version holding labels
    audit_rate: float = 0.0
    control: str = ""


@dataclass(frozen=True)
class Selection:
    pooled: tuple  # scored (ranked together: diversity spreads over them)
    predicted: tuple  # get a stored prediction
    judged: tuple  # their auto label is decided
    encoded: tuple  # every task the model reads, once: pooled, predicted and judged in this order


@dataclass(frozen=True)
class TaskUpdate:
    task_id: int
    version: int
    epoch: int
    rank: Rank | None = None
    prediction: dict | None = None
    auto: dict | None = None  # the auto label to give
    audit: bool = False  # the auto-labelled task stays queued for people to check
    withdraw: bool = False  # the auto label standing is withdrawn (the task goes back to the pool)

    @property
    def empty(self) -> bool:
        return self.rank is None and self.prediction is None and self.auto is None and not self.withdraw


def select(tasks: Sequence[Task], in_pool: set, work: Work, auto_configured: bool = False) -> Selection:
    """Which tasks of the chunk the model reads, and for what. `auto_configured`: `ml.auto_label` is
    set (then the pool is judged too; without it only the auto labels standing are)."""
    pooled = tuple(t for t in tasks if t.task_id in in_pool) if work.score else ()
    predicted = tuple(t for t in tasks if not t.completion_seq or t.task_id in in_pool) if work.predict else ()
    judged = ()
    if work.judge:
        # an auto label standing is always re-judged (withdrawn when auto-labelling was turned off since)
        judged = tuple(t for t in tasks if (auto_configured and t.task_id in in_pool) or t.auto_project is not None)
    seen, encoded = set(), []
    for task in pooled + predicted + judged:
        if task.task_id not in seen:
            seen.add(task.task_id)
            encoded.append(task)
    return Selection(pooled, predicted, judged, tuple(encoded))


def _untouched(task: Task) -> bool:
    return not task.completion_seq


def _not_newer(task: Task, written: int) -> bool:
    """The task's auto label (if any) was written at or before epoch `written`."""
    if task.auto_epoch is not None:
        return int(task.auto_epoch) <= written
    return task.auto_version is None or int(task.auto_version) <= written


def _stands(task: Task, reading: Reading, policy: AutoPolicy) -> bool:
    """The auto label a version gave still stands: the judging model agrees, that version still
    meets the target under the current settings, and the label's score is at or above its threshold."""
    auto = task.auto_label or {}
    if task.auto_version is None or list(auto.get("answer") or []) != reading.answer:
        return False
    threshold = policy.standing.get(int(task.auto_version))
    return threshold is not None and float(auto.get("score") or 0.0) >= threshold


def judge_task(task: Task, reading: Reading, policy: AutoPolicy, work: Work) -> tuple[dict | None, bool]:
    """(the auto label to give or None, withdraw the one standing). A version that meets the target
    labels what it predicts at or above its threshold and withdraws every other auto label; one that
    cannot labels nothing and withdraws only the labels it contradicts or whose version no longer
    meets the target; closed (off, paused): every auto label is withdrawn."""
    written = epoch(work.move, work.version)
    if not _untouched(task) or not _not_newer(task, written) or reading.answer is None:
        return None, False
    held = task.auto_project is not None
    if policy.closed:
        return None, held
    if policy.threshold is not None and reading.score >= policy.threshold:
        if task.pool_project is None and not held:
            return None, False  # neither in the pool nor auto-labelled: not open to a label
        return {"result": reading.result, "score": round(float(reading.score), 6), "model_version": work.model_version,
                "auto": True, "control": policy.control, "answer": reading.answer}, False
    return None, held and (policy.threshold is not None or not _stands(task, reading, policy))


def plan(selection: Selection, work: Work, *, ranks: Sequence[Rank] = (), served: Sequence[Reading] = (),
         judge: Sequence[Reading] = (), policy: AutoPolicy | None = None) -> list[TaskUpdate]:
    """One TaskUpdate per task that gets anything, in the chunk's order (see the module docstring)."""
    row = {t.task_id: i for i, t in enumerate(selection.encoded)}
    rank_of = {t.task_id: r for t, r in zip(selection.pooled, ranks)}
    predicted = {t.task_id for t in selection.predicted}
    judged = {t.task_id for t in selection.judged}
    written = epoch(work.move, work.version)
    updates = []
    for task in selection.encoded:
        rank = rank_of.get(task.task_id)
        if rank is not None and task.score_version is not None and int(task.score_version) > work.version:
            rank = None  # a newer version ranked it
        prediction = None
        if task.task_id in predicted and _untouched(task):
            reading = served[row[task.task_id]]
            prediction = {"result": reading.result, "score": round(float(reading.score), 6),
                          "model_version": work.model_version}
            if rank is not None and rank.cluster is not None:
                prediction["cluster"] = int(rank.cluster)
        auto, withdraw = None, False
        if policy is not None and task.task_id in judged:
            auto, withdraw = judge_task(task, judge[row[task.task_id]], policy, work)
        update = TaskUpdate(task.task_id, work.version, written, rank, prediction, auto,
                            audit=auto is not None and audited(task.task_id, policy.audit_rate), withdraw=withdraw)
        if not update.empty:
            updates.append(update)
    return updates
