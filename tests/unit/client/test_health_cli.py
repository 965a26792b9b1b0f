"""`python -m activelabel_client health`: the health view as lines, exit 3 when degraded."""
from activelabel_client import health

VIEW = {
    "status": "degraded", "stage": "dev", "dead_letters": 2,
    "queues": {"train": {"waiting": 1, "in_flight": 0, "delayed": 0},
               "train_dead_letters": {"waiting": 2, "in_flight": 0, "delayed": 0},
               "rescore": {"error": "AccessDenied"}},
    "failing_projects": ["7"],
    "projects": [
        {"project_id": "7", "title": "sms", "training": {"state": "failed", "last_error": "one class", "model_version": None},
         "stream_errors": [{"completion_id": "3.0", "error": "Throttled"}],
         "last_failures": [{"job": "training-2", "kind": "training", "state": "failed", "error": "one class",
                            "model_version": "v1", "at": "2026-12-08T03:00:00+00:00"}]},
        {"project_id": "8", "title": "ok", "training": {"state": "idle", "last_error": None, "model_version": "v3"},
         "stream_errors": [], "last_failures": []},
    ],
}


def test_lines_name_the_queues_and_only_the_failing_projects(capsys):
    assert health.print_health(VIEW) == health.EXIT_DEGRADED
    out = capsys.readouterr().out
    assert "status degraded" in out and "dead letters: 2" in out
    assert "queue train_dead_letters: 2 waiting" in out and "queue rescore: unreadable (AccessDenied)" in out
    assert "project 7 (sms): training failed" in out and "training training-2: one class" in out
    assert "stream record 3.0: Throttled" in out and "project 8" not in out
    assert out.strip().endswith("1 of 2 projects without failures")


def test_a_healthy_view_exits_0(capsys):
    view = {**VIEW, "status": "ok", "dead_letters": 0, "projects": VIEW["projects"][1:], "queues": {}}
    assert health.print_health(view) == health.EXIT_OK
