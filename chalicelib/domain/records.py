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
