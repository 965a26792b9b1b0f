"""`GET /api/projects/{id}/report` and `report.png`: the label-savings report (services/reports.py)."""
from chalice import Response

from chalicelib.api import report_chart
from chalicelib.services import reports


def report(project_id: str) -> dict:
    return reports.report(project_id)


def report_png(project_id: str):
    """The report as a PNG (chalicelib/api/report_chart.py). API Gateway returns binary bodies only
    to requests that accept them: send `Accept: image/png`."""
    return Response(body=report_chart.render_png(report(project_id)), status_code=200,
                    headers={"Content-Type": "image/png", "Cache-Control": "no-store"})
