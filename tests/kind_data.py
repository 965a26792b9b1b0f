"""Real data for the model-kind tests: label configs and tasks per kind (data/ and scikit-learn's bundled sets)."""
import io
import json
from pathlib import Path

from chalicelib.labeling.config import parse_label_config
from chalicelib.ml.registry import get_kind

DATA = Path(__file__).resolve().parents[1] / "data"
ENTITY_TYPES = ("person", "location", "group", "corporation", "product", "creative-work")
# Entity types grouped into a two-level taxonomy (for taxonomy tests on WNUT sentences).
TAXONOMY_OF = {"person": ("Agent", "person"), "group": ("Agent", "group"), "corporation": ("Agent", "corporation"),
               "location": ("Place", "location"), "product": ("Thing", "product"),
               "creative-work": ("Thing", "creative-work")}

NER_CONFIG = ('<View><Labels name="label" toName="text">'
              + "".join(f'<Label value="{t}"/>' for t in ENTITY_TYPES)
              + '</Labels><Text name="text" value="$text"/></View>')
TOPICS_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="types" toName="text" choice="multiple">'
                 + "".join(f'<Choice value="{t}"/>' for t in ENTITY_TYPES) + "</Choices></View>")
TAXONOMY_CONFIG = ('<View><Text name="text" value="$text"/><Taxonomy name="kind" toName="text">'
                   '<Choice value="Agent"><Choice value="person"/><Choice value="group"/><Choice value="corporation"/>'
                   '</Choice><Choice value="Place"><Choice value="location"/></Choice>'
                   '<Choice value="Thing"><Choice value="product"/><Choice value="creative-work"/></Choice>'
                   "</Taxonomy></View>")
COUNT_CONFIG = ('<View><Text name="text" value="$text"/>'
                '<Number name="entities" toName="text" min="0" max="10"/></View>')
DIGITS_CONFIG = ('<View><Image name="image" value="$image"/><Choices name="digit" toName="image">'
                 + "".join(f'<Choice value="{d}"/>' for d in range(10)) + "</Choices></View>")


def tabular_config(control: str) -> str:
    if control == "Choices":
        inner = '<Choices name="label" toName="x"><Choice value="malignant"/><Choice value="benign"/></Choices>'
    else:
        inner = '<Number name="label" toName="x" min="0" max="400"/>'
    return f'<View><Table name="x" value="$x"/>{inner}</View>'


def target(config_xml: str, kind_name: str):
    return get_kind(kind_name).target(parse_label_config(config_xml))


def wnut(split: str) -> list[dict]:
    with open(DATA / "wnut17" / f"{split}.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def entity_spans(row: dict) -> tuple:
    return tuple(sorted((s["start"], s["end"], s["label"]) for s in row["spans"]))


def span_result(row: dict, annotator_spans=None) -> list[dict]:
    spans = annotator_spans if annotator_spans is not None else entity_spans(row)
    return [{"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": s, "end": e, "text": row["text"][s:e], "labels": [lab]}} for s, e, lab in spans]


def digit_png(pixels) -> bytes:
    """A load_digits 8x8 image (0..16) as a 32x32 grayscale PNG scan: dark ink on white paper."""
    import numpy as np
    from PIL import Image

    ink = (255 - np.asarray(pixels, dtype=float).reshape(8, 8) * 255 / 16).astype("uint8")
    image = Image.fromarray(ink, mode="L").resize((32, 32), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def put_digits(s3, bucket: str, indices) -> list[tuple[str, str]]:
    """Write load_digits images to S3; [(s3 URL, digit)]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    out = []
    for i in indices:
        key = f"digits/{i}.png"
        s3.put_object(Bucket=bucket, Key=key, Body=digit_png(digits.data[i]), ContentType="image/png")
        out.append((f"s3://{bucket}/{key}", str(digits.target[i])))
    return out


def breast_cancer_rows():
    """[({column: value}, "malignant"|"benign")] from scikit-learn's bundled Wisconsin breast cancer set."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    return [({n: float(v) for n, v in zip(names, row)}, str(data.target_names[t])) for row, t in zip(data.data, data.target)]


def diabetes_rows():
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    names = [str(n) for n in data.feature_names]
    return [({n: float(v) for n, v in zip(names, row)}, float(t)) for row, t in zip(data.data, data.target)]
