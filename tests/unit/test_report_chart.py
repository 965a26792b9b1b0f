"""The report PNG: the points drawn are the report's, in the report's colours."""
import io

from PIL import Image

from chalicelib.api import report_chart

REPORT = {
    "project": "7", "sampling": "margin",
    "curve": [{"labels": 10, "accuracy": None}, {"labels": 20, "accuracy": 0.81},
              {"labels": 40, "accuracy": 0.9}, {"labels": 80, "accuracy": 0.95}],
    "estimated_savings": {"labels_used": 80, "random_would_need": 174, "labels_saved": 94, "ratio": 0.46},
}


def colour_count(png: bytes, colour) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, pixel in image.getcolors(maxcolors=1 << 20) if pixel == colour)


def test_series_are_the_evaluated_versions_and_their_random_estimate():
    ours, random = report_chart.series(REPORT)
    assert ours == [(20.0, 0.81), (40.0, 0.9), (80.0, 0.95)]  # the unevaluated v1 is left out
    assert [round(x, 1) for x, _ in random] == [43.5, 87.0, 173.9] and [y for _, y in random] == [0.81, 0.9, 0.95]


def test_the_chart_draws_both_curves():
    png = report_chart.render_png(REPORT)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (report_chart.WIDTH, report_chart.HEIGHT)
    assert colour_count(png, report_chart.OURS) > 100 and colour_count(png, report_chart.RANDOM) > 100


def test_without_an_estimate_only_the_model_curve_and_without_points_a_message():
    no_estimate = {**REPORT, "sampling": "random", "estimated_savings": None}
    png = report_chart.render_png(no_estimate)
    assert colour_count(png, report_chart.OURS) > 100 and colour_count(png, report_chart.RANDOM) == 0
    empty = report_chart.render_png({**no_estimate, "curve": []})
    assert colour_count(empty, report_chart.OURS) == 0 and empty[:4] == b"\x89PNG"


def test_tick_steps_are_round():
    assert report_chart._nice_step(174) == 50 and report_chart._nice_step(0.5) == 0.1
    assert report_chart._nice_step(1000) == 200 and report_chart._nice_step(0.05) == 0.01


def test_the_label_counts_are_written_under_the_title():
    counts = {"total": 103, "human": 80, "auto": 12, "audited": 3, "suspect": 1, "left": 11}
    assert report_chart.counts_line({**REPORT, "labels": counts}) == (
        "tasks: 80 labelled by people, 12 auto-labelled (3 audited), 1 suspect, 11 left of 103")
    assert report_chart.counts_line(REPORT) is None
    with_counts = report_chart.render_png({**REPORT, "labels": counts})
    white = (255, 255, 255)
    assert colour_count(with_counts, white) < colour_count(report_chart.render_png(REPORT), white)  # a line of text
