"""The label-savings report of a project.

Every model version's evaluation (accuracy, macro-F1, how it was measured) against the number of
labelled tasks it was trained on, and an *estimate* of the labels random sampling would have
needed for the latest model: the labels used divided by the ratio bench/active_learning.py
measured for the project's strategy (labels to reach 95% of the full-pool accuracy, strategy /
random, through the product loop). The basis is returned with the figure: it is a benchmark's
ratio, not a measurement on this project, whose labels were not drawn at random.
"""
from chalicelib.labeling.results import iso
from chalicelib.ml import sampling
from chalicelib.store import projects as project_db
from chalicelib.store import tasks as task_db
from chalicelib.store import training as training_db

# strategy -> (labels needed / random's labels, to 95% of full-pool accuracy; source)
MEASURED_LABEL_RATIO = {
    "margin": (0.55, "bench/results/README.md: digits (tabular kind, pool 1,297), product loop, 9 seeds "
                     "(0.32 on SMS spam)"),
    "diverse_margin": (0.43, "bench/results/README.md: digits (tabular kind, pool 1,297), product loop, 9 seeds "
                             "(0.29 on SMS spam, 0.55 on a 500-image digits pool)"),
    "least_confidence": (0.44, "bench/results/active_learning-memory-pool1000.md: SMS spam, in-memory loop, 3 seeds"),
    "entropy": (0.44, "bench/results/active_learning-memory-pool1000.md: SMS spam, in-memory loop, 3 seeds"),
}


def report(project_id: str) -> dict:
    project = project_db.get_project(project_id)
    strategy = sampling.resolve(project.settings.get("sampling"))
    versions = sorted(training_db.list_model_versions(project_id), key=lambda v: v.version)
    curve = [{
        "model_version": v.model_version,
        "created_at": iso(v.created_at),
        "labels": v.n_train,
        "accuracy": v.metrics.get("accuracy"),
        "macro_f1": v.metrics.get("macro_f1"),
        "evaluation": v.metrics.get("method"),
        "active": project.active_version == v.version,
    } for v in versions]
    estimate = None
    if curve and strategy in MEASURED_LABEL_RATIO:
        ratio, basis = MEASURED_LABEL_RATIO[strategy]
        labels = curve[-1]["labels"]
        random_labels = round(labels / ratio)
        estimate = {"labels_used": labels, "random_would_need": random_labels,
                    "labels_saved": random_labels - labels, "ratio": ratio, "basis": basis}
    labels = task_db.label_counts(project_id)
    labels["audited"] = int(project.audit_n or 0)
    return {"project": project_id, "sampling": strategy, "completions": project.completions_count,
            "labels": labels, "curve": curve, "estimated_savings": estimate}
