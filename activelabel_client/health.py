"""`python -m activelabel_client health [PROJECT]`: GET /api/health/detail as text."""
from __future__ import annotations

EXIT_OK, EXIT_DEGRADED = 0, 3


def health_lines(health: dict) -> list[str]:
    """The view as lines: the status, each queue's depth, then each project with a problem."""
    lines = [f"status {health['status']} (stage {health.get('stage')}); dead letters: {health['dead_letters']}"]
    for name, depth in health["queues"].items():
        if "error" in depth:
            lines.append(f"  queue {name}: unreadable ({depth['error']})")
        else:
            lines.append(f"  queue {name}: {depth['waiting']} waiting, {depth['in_flight']} in flight, "
                         f"{depth['delayed']} delayed")
    for project in health["projects"]:
        training, failures = project["training"], project["last_failures"]
        if training["state"] != "failed" and not failures and not project["stream_errors"]:
            continue
        lines.append(f"project {project['project_id']} ({project['title']}): training {training['state']}, "
                     f"model {training['model_version'] or '-'}")
        if training.get("last_error"):
            lines.append(f"  last error: {training['last_error']}")
        for error in project["stream_errors"]:
            lines.append(f"  stream record {error.get('completion_id')}: {error.get('error')}")
        for failure in failures:
            lines.append(f"  {failure['at']} {failure['kind']} {failure['job']}: {failure['error']}")
    healthy = len(health["projects"]) - sum(1 for line in lines if line.startswith("project "))
    lines.append(f"{healthy} of {len(health['projects'])} projects without failures")
    return lines


def print_health(health: dict) -> int:
    """Print the view; exit status 3 when it is degraded (dead letters or failing projects)."""
    print("\n".join(health_lines(health)))
    return EXIT_OK if health["status"] == "ok" else EXIT_DEGRADED
