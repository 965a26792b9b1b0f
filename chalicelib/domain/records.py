"""What the store returns: plain frozen records, with counters as ints and settings merged onto
the defaults, so callers never see a database item (store/records.py builds them)."""
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.training_state import TrainingCounters


@dataclass(frozen=True)
class ModelPointer:
    """Where a model's artifact is (our bucket, by S3 VersionId) and how to check it."""

    bucket: str
    key: str
    version_id: str
    sha256: str
    sklearn_version: str
    model_version: str


@dataclass(frozen=True)
class Project:
    project_id: str
    title: str
    label_config: str
    ml: dict  # the stored ML settings (domain/settings.py)
    settings: dict  # `ml` merged onto settings.DEFAULTS
    created_at: datetime
    updated_at: datetime
    task_seq: int
    version_seq: int
    completions_count: int
    train_sent_seq: int
    queued_at: datetime | None
    last_error: str | None
    counters: TrainingCounters
    active_version: int | None
    model_version: str | None
    model: ModelPointer | None  # the promoted model, None before the first promotion
    ls_link: dict | None  # the Label Studio connection (store/labelstudio.py)
    stream_errors: dict | None  # failed completion-stream records (store/stream_errors.py)
    audit_n: int = 0  # auto labels people also labelled (services/auto_labeling.py), and how many agreed
    audit_correct: int = 0
    # the last move of the pointer by hand (rollback, pin): its number and the version it activated
    activation_seq: int = 0
    activation_version: int | None = None
    revision: int = 0  # the settings' and hand-moved pointer's revision (store/projects.write_settings)


@dataclass(frozen=True)
class ModelVersion:
    project_id: str
    version: int
    model_version: str
    model: str  # the model kind's name
    created_at: datetime
    n_train: int
    metrics: dict
    pointer: ModelPointer  # the artifact predictions load (the numpy form when the kind has one)
    label_changes: int
    train_seq: int
    joblib: ModelPointer | None = None  # the scikit-learn pickle kept beside a numpy form
    # champion / challenger (services/promotion.py): "promoted" | "rejected" | "held" | "superseded"
    # (None: recorded before champion / challenger), the decision and the validation set held out
    status: str | None = None
    decision: dict | None = None
    validation: dict | None = None
    calibration: dict | None = None  # the auto-label threshold and its bound (domain/calibration.py)
    representation: dict | None = None  # the pool representation its features read, if any

    @property
    def sha256(self) -> str:
        return self.pointer.sha256

    @property
    def sklearn_version(self) -> str:
        return self.pointer.sklearn_version


@dataclass(frozen=True)
class Token:
    """An API token's record; the secret itself is never stored, only its SHA-256."""

    token_id: str
    secret_sha256: str
    name: str
    role: str
    projects: object  # "*" or a list of project ids
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class Task:
    """A task with its judged label state, queues, lock and model outputs. A record read through an
    index or a projection holds only what that read asked for; the other fields keep their defaults."""

    project_id: str
    task_id: int
    data: dict | None = None
    meta: dict | None = None
    predictions: list | None = None
    created_at: datetime | None = None
    completion_seq: int = 0
    # derived by the stream handler from the task's completions (services/task_state.py)
    label_rev: int = 0
    n_completions: int = 0
    agreement: float | None = None
    accepted: bool = False
    consensus: list | None = None
    accepted_project: str | None = None
    # active learning: the sparse index attributes domain.assignment.queues_of decides
    random_key: float | None = None
    pool_project: str | None = None
    scored_project: str | None = None
    priority: float | None = None
    score_version: int | None = None
    rework_project: str | None = None
    annotators: frozenset = frozenset()
    lock_owner: str | None = None
    lock_until: float | None = None
    preannotation: dict | None = None  # the active version's stored prediction (pre-annotation jobs)
    # auto-labelling (services/auto_labeling.py)
    auto_label: dict | None = None
    auto_project: str | None = None
    auto_version: int | None = None
    auto_audit: bool | None = None
    auto_epoch: int | None = None  # the pointer move and version that wrote it (domain/rescoring_plan.epoch)
    # suspect labels (services/suspects.py): the human label a suspects run confidently contradicts
    suspect: dict | None = None
    suspect_version: int | None = None
    suspect_project: str | None = None
    suspect_rank: float | None = None
    disputed: frozenset = frozenset()  # completion ids a suspects review set aside


@dataclass(frozen=True)
class Completion:
    project_id: str
    completion_id: str  # "<task_id>.<n>": a task's completions share a prefix
    task_id: int
    result: list
    completed_by: str
    created_at: datetime
    updated_at: datetime
    recorded_by: str | None = None  # the admin token that posted it for `completed_by`
    was_cancelled: bool = False
    ground_truth: bool = False
    lead_time: float | None = None
