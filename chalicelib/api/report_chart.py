"""The label-savings report as a PNG: accuracy of each model version against the labels it was
trained on, and the same accuracies at the labels random sampling would have needed (estimated).

Drawn with Pillow (already in the layer for the image model kind; imported here only when a chart
is asked for), so the API needs no plotting library: a line chart with axes, ticks and a legend in
Pillow's built-in font. Input is the JSON of `report.report`; output is PNG bytes.
"""
from __future__ import annotations

import io
import math

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 56
INK, GRID, OURS, RANDOM = (33, 33, 33), (225, 225, 225), (31, 119, 180), (214, 39, 40)


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over `span`."""
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if raw <= f * magnitude)


def series(report: dict) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(labels, accuracy) of the evaluated versions, and the same accuracies at the labels random
    sampling would have needed (labels / the measured ratio), when the strategy has a ratio."""
    ours = [(float(p["labels"]), float(p["accuracy"])) for p in report["curve"] if p.get("accuracy") is not None]
    estimate = report.get("estimated_savings")
    random = [(x / estimate["ratio"], y) for x, y in ours] if estimate else []
    return ours, random


def counts_line(report: dict) -> str | None:
    """How the project's tasks are labelled (the report's `labels`), as one line under the title."""
    labels = report.get("labels")
    if not labels:
        return None
    return (f"tasks: {labels['human']} labelled by people, {labels['auto']} auto-labelled "
            f"({labels['audited']} audited), {labels['suspect']} suspect, {labels['left']} left "
            f"of {labels['total']}")


def render_png(report: dict) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    ours, random = series(report)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    title = f"project {report['project']}: accuracy vs labels ({report['sampling']})"
    estimate = report.get("estimated_savings")
    if estimate:
        title += f"; ~{estimate['labels_saved']} labels saved vs random (estimate)"
    draw.text((LEFT, 14), title, fill=INK, font=font)
    counts = counts_line(report)
    if counts:
        draw.text((LEFT, 28), counts, fill=INK, font=font)
    x0, y0, x1, y1 = LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP
    points = ours + random
    if not points:
        draw.text((LEFT, HEIGHT // 2), "no evaluated model version yet", fill=INK, font=font)
        return _png(image, io)
    x_max = max(x for x, _ in points) * 1.05
    y_min = min(0.5, min(y for _, y in points))
    step_x, step_y = _nice_step(x_max), _nice_step(1.0 - y_min)

    def at(x: float, y: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * x / x_max, y0 - (y0 - y1) * (y - y_min) / (1.0 - y_min)

    tick = 0.0
    while tick <= x_max:
        px, _ = at(tick, y_min)
        draw.line([(px, y0), (px, y1)], fill=GRID)
        draw.text((px - 8, y0 + 6), f"{tick:g}", fill=INK, font=font)
        tick += step_x
    tick = y_min - (y_min % step_y)
    while tick <= 1.0 + 1e-9:
        if tick >= y_min:
            _, py = at(0, tick)
            draw.line([(x0, py), (x1, py)], fill=GRID)
            draw.text((8, py - 6), f"{tick:.2f}", fill=INK, font=font)
        tick += step_y
    draw.line([(x0, y1), (x0, y0), (x1, y0)], fill=INK, width=2)
    draw.text(((x0 + x1) // 2 - 60, HEIGHT - 22), "labelled tasks trained on", fill=INK, font=font)
    for values, colour in ((random, RANDOM), (ours, OURS)):
        pixels = [at(x, y) for x, y in values]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        for px, py in pixels:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
    legend = [(OURS, "model versions (accuracy)")]
    if random:
        legend.append((RANDOM, f"random sampling, estimated (labels / {estimate['ratio']})"))
    for row, (colour, text) in enumerate(legend):
        ly = y1 + 8 + 16 * row
        draw.rectangle([x1 - 270, ly + 2, x1 - 260, ly + 10], fill=colour)
        draw.text((x1 - 254, ly), text, fill=INK, font=font)
    return _png(image, io)


def _png(image, io) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
