"""PynamoDB models. Table names come from the environment (see chalicelib/config.py).

Tables and keys are defined once in infra/resources.yaml; these classes must agree with it
(tests/functional/test_store_schema.py checks that they do).
"""
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib import config


class ProjectModel(Model):
    """One item per project: settings, exact counters, training state and the model pointer.

    Training state is derived from three monotonic sequence numbers (see domain/training_state.py):
    `train_request_seq` (last request queued), `training_seq` (last request a worker claimed),
    `trained_seq` (last request finished, successfully or not).
    """

    class Meta:
        table_name = "unbound"

    project_id = UnicodeAttribute(hash_key=True)
    title = UnicodeAttribute(default="")
    label_config = UnicodeAttribute()
    ml = JSONAttribute(default=dict)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    # id allocation
    task_seq = NumberAttribute(default=0)
    version_seq = NumberAttribute(default=0)

    # counters kept exact by the completion stream handler
    completions_count = NumberAttribute(default=0)
    accepted_tasks = NumberAttribute(default=0)
    label_changes = NumberAttribute(default=0)

    # training requests
    train_request_seq = NumberAttribute(default=0)
    train_sent_seq = NumberAttribute(default=0)  # last request whose SQS message was sent
    train_requested_changes = NumberAttribute(null=True)
    queued_at = UTCDateTimeAttribute(null=True)
    training_seq = NumberAttribute(default=0)
    training_started_at = UTCDateTimeAttribute(null=True)
    trained_seq = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    last_error_at = UTCDateTimeAttribute(null=True)
    # completion stream records that failed and have not succeeded since: {completion_id: {"error",
    # "attempts", "at"}}, at most store/stream_errors.MAX_ENTRIES (shown in /training as `errors`)
    stream_errors = JSONAttribute(null=True)
    # auto-label audit: auto-labelled tasks people also labelled, and how many agreed (each task once)
    audit_n = NumberAttribute(null=True)
    audit_correct = NumberAttribute(null=True)

    # the promoted model (pointer); the artifact's facts are copied here so that predict
    # needs a single GetItem
    active_version = NumberAttribute(null=True)
    model_version = UnicodeAttribute(null=True)
    model_name = UnicodeAttribute(null=True)
    model_key = UnicodeAttribute(null=True)
    model_s3_version = UnicodeAttribute(null=True)
    model_sha256 = UnicodeAttribute(null=True)
    model_sklearn_version = UnicodeAttribute(null=True)
    model_label_changes = NumberAttribute(null=True)
    # moves of the pointer by hand (rollback, pin; store/model_registry.py): how many, and the version
    # the last one activated; they name the pre-annotation pass of each move
    activation_seq = NumberAttribute(null=True)
    activation_version = NumberAttribute(null=True)
    # optimistic concurrency (store/projects.write_settings): one more on every write of the settings
    # or a move of the pointer by hand, each conditioned on the revision it read; `pinned_version`
    # mirrors `ml.pinned_version` in the same write so that a promotion can be conditioned on it
    revision = NumberAttribute(null=True)
    pinned_version = NumberAttribute(null=True)

    # a linked Label Studio project (chalicelib/store/labelstudio.py): hostname, encrypted token
    ls_link = JSONAttribute(null=True)


class AcceptedIndex(GlobalSecondaryIndex):
    """Sparse index of accepted tasks: `accepted_project` is set only while a task is accepted."""

    class Meta:
        index_name = "accepted"
        projection = AllProjection()

    accepted_project = UnicodeAttribute(hash_key=True)
    task_id = NumberAttribute(range_key=True)


# What GET /next needs to pick a candidate: the lock and who did the task (its filter), nothing of
# the task's data. The lock's conditional UpdateItem returns the whole item (ALL_NEW), so `next`
# makes no extra read; pages stay a few hundred bytes (RCUs) and rescoring's score writes copy ~100
# bytes, not the task's data, into the index.
QUEUE_PROJECTION = ["lock_owner", "lock_until", "annotators"]


class PoolIndex(GlobalSecondaryIndex):
    """Sparse: tasks nobody has completed yet (`pool_project` set), in `random_key` order.

    `random_key` is uniform random at import (task id for a `sequential` project), so reading this
    index in order is a uniform random permutation of the unlabeled pool: the random phase of
    active learning, and the fallback for tasks no model has scored yet. Tasks stored before random
    keys existed get theirs from the backfill in events/rescoring.py.
    """

    class Meta:
        index_name = "pool"
        projection = IncludeProjection(QUEUE_PROJECTION)

    pool_project = UnicodeAttribute(hash_key=True)
    random_key = NumberAttribute(range_key=True)


class ScoredIndex(GlobalSecondaryIndex):
    """Sparse: unlabeled tasks a model has scored (`scored_project` set), most informative first."""

    class Meta:
        index_name = "scored"
        projection = IncludeProjection(QUEUE_PROJECTION)

    scored_project = UnicodeAttribute(hash_key=True)
    priority = NumberAttribute(range_key=True)


class ReworkIndex(GlobalSecondaryIndex):
    """Sparse: started but unfinished tasks that want another annotator (fewer completions than
    `overlap`, or agreement below the threshold), lowest agreement first."""

    class Meta:
        index_name = "rework"
        projection = IncludeProjection(QUEUE_PROJECTION)

    rework_project = UnicodeAttribute(hash_key=True)
    agreement = NumberAttribute(range_key=True)


SUSPECT_PROJECTION = ["suspect", "suspect_version", "label_rev", "n_completions", "accepted", "agreement",
                      "random_key", "score_version"]


class SuspectsIndex(GlobalSecondaryIndex):
    """Sparse: accepted tasks whose human label the last suspects run of a model version confidently
    contradicts (`suspect_project` set, services/suspects.py), the least likely label first
    (`suspect_rank`: the out-of-fold probability of the human label). Projects the mark, so
    `GET /suspects` pages read only this index, and what a run needs to clear a mark without reading
    the task (its label state and queue inputs, SUSPECT_PROJECTION)."""

    class Meta:
        index_name = "suspects"
        projection = IncludeProjection(SUSPECT_PROJECTION)

    suspect_project = UnicodeAttribute(hash_key=True)
    suspect_rank = NumberAttribute(range_key=True)


class TaskModel(Model):
    """One item per task. Besides its data and label state it carries what active learning needs:
    membership of the sparse `pool` / `scored` / `rework` indexes, the score of the model that last
    ranked it, who already annotated it, and a lock (owner + expiry) held by the annotator it was
    served to."""

    class Meta:
        table_name = "unbound"

    project_id = UnicodeAttribute(hash_key=True)
    task_id = NumberAttribute(range_key=True)
    data = JSONAttribute()
    meta = JSONAttribute(default=dict)
    predictions = JSONAttribute(default=list)
    created_at = UTCDateTimeAttribute()
    completion_seq = NumberAttribute(default=0)

    # derived by the stream handler from the task's completions
    label_rev = NumberAttribute(default=0)
    n_completions = NumberAttribute(default=0)
    agreement = NumberAttribute(null=True)
    accepted = BooleanAttribute(default=False)
    consensus = JSONAttribute(null=True)
    accepted_project = UnicodeAttribute(null=True)

    # active learning (see chalicelib/labeling_queue.py and events/rescoring.py)
    random_key = NumberAttribute(null=True)
    pool_project = UnicodeAttribute(null=True)
    scored_project = UnicodeAttribute(null=True)
    priority = NumberAttribute(null=True)
    score_version = NumberAttribute(null=True)
    rework_project = UnicodeAttribute(null=True)
    annotators = UnicodeSetAttribute(null=True)
    lock_owner = UnicodeAttribute(null=True)
    lock_until = NumberAttribute(null=True)
    # the active model's prediction, stored by a pre-annotation job (store/preannotations.py)
    preannotation = JSONAttribute(null=True)
    # auto-labelling (store/auto_labels.py): the label a calibrated version gave the task by itself,
    # `auto_project` while it stands in for a human label (off the human queues unless audited)
    auto_label = JSONAttribute(null=True)
    auto_project = UnicodeAttribute(null=True)
    auto_version = NumberAttribute(null=True)
    auto_epoch = NumberAttribute(null=True)  # store/auto_labels.epoch: the pointer move and version that wrote it
    auto_audit = BooleanAttribute(null=True)
    # suspect labels (store/suspects.py): the human label a suspects run (confident learning over
    # out-of-fold probabilities) contradicts: {"model_label", "score", "human_label",
    # "self_confidence", "control", "model_version"}; `suspect_version` the run's version (a run only
    # overwrites an older run's mark), `suspect_project` / `suspect_rank` the sparse `suspects` index.
    # A suspect task is in the `rework` queue (domain/assignment.queues_of) until re-judged.
    suspect = JSONAttribute(null=True)
    suspect_version = NumberAttribute(null=True)
    suspect_project = UnicodeAttribute(null=True)
    suspect_rank = NumberAttribute(null=True)
    # the completions a suspects review set aside (domain/suspects.judge_after_review): those standing
    # when the first completion after the mark arrived
    disputed = UnicodeSetAttribute(null=True)

    accepted_index = AcceptedIndex()
    pool_index = PoolIndex()
    scored_index = ScoredIndex()
    rework_index = ReworkIndex()
    suspects_index = SuspectsIndex()


class CompletionModel(Model):
    """One item per completion. Its stream (NEW_AND_OLD_IMAGES) drives all counting."""

    class Meta:
        table_name = "unbound"

    project_id = UnicodeAttribute(hash_key=True)
    completion_id = UnicodeAttribute(range_key=True)  # "<task_id>.<n>": a task's completions share a prefix
    task_id = NumberAttribute()
    result = JSONAttribute(default=list)
    completed_by = UnicodeAttribute(default="unknown")
    recorded_by = UnicodeAttribute(null=True)  # the admin token that posted it for `completed_by`
    was_cancelled = BooleanAttribute(default=False)
    ground_truth = BooleanAttribute(default=False)
    lead_time = NumberAttribute(null=True)
    correlation_id = UnicodeAttribute(null=True)  # the request that wrote it: its stream record's log lines carry it
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class ModelVersionModel(Model):
    class Meta:
        table_name = "unbound"

    project_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    model_version = UnicodeAttribute()
    model = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    n_train = NumberAttribute()
    metrics = JSONAttribute(default=dict)
    s3_bucket = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    s3_version_id = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    sklearn_version = UnicodeAttribute()
    label_changes = NumberAttribute()
    train_seq = NumberAttribute()
    # champion / challenger (services/promotion.py): "promoted" | "rejected" | "held" | "superseded",
    # why, and the validation set the version held out ({"held_out", "n", "share"})
    status = UnicodeAttribute(null=True)
    decision = JSONAttribute(null=True)
    validation = JSONAttribute(null=True)
    # s3_* / sha256 name the artifact predictions load: the numpy form when the kind has one. The
    # joblib pickle is then kept beside it, here (None when it is the s3_* artifact itself).
    joblib_key = UnicodeAttribute(null=True)
    joblib_version_id = UnicodeAttribute(null=True)
    joblib_sha256 = UnicodeAttribute(null=True)
    calibration = JSONAttribute(null=True)  # domain/calibration.py: the auto-label threshold and its bound
    # the pool representation the version's features read (ml/pool_representation.py): its artifact
    # (which may be an earlier version's), the pool size it was fitted on, its dimensions
    representation = JSONAttribute(null=True)


class LedgerModel(Model):
    """Idempotency markers and id counters. Markers expire (TTL) after the stream retention."""

    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    value = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)
    record = JSONAttribute(null=True)  # an import's record, by its Idempotency-Key (store/import_records.py)
    lease_owner = UnicodeAttribute(null=True)  # the request writing that import, until `lease_until` (epoch s)
    lease_until = NumberAttribute(null=True)


class TokenModel(Model):
    """One item per API token. Only the SHA-256 of its secret is stored (see chalicelib/services/tokens.py)."""

    class Meta:
        table_name = "unbound"

    token_id = UnicodeAttribute(hash_key=True)
    secret_sha256 = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()  # "admin" | "annotator" | "reader"
    projects = JSONAttribute()  # "*" or a list of project ids
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()


_LOGICAL_IDS = {
    ProjectModel: "ProjectsTable",
    TaskModel: "TasksTable",
    CompletionModel: "CompletionsTable",
    ModelVersionModel: "ModelVersionsTable",
    LedgerModel: "LedgerTable",
    TokenModel: "TokensTable",
}


def bind_tables() -> None:
    """Point every model at the table names and region in the environment.

    Called at import of the store (below) and again by tests or the local stack after they
    change the environment; drops cached connections so the new endpoint is used.
    """
    for model, logical_id in _LOGICAL_IDS.items():
        model.Meta.table_name = config.table_name(logical_id)
        model.Meta.region = config.region()
        model._connection = None


bind_tables()
