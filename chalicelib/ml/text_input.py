"""Turn a task's data into the text a text model reads."""
import html
import re

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def strip_html(markup: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def text_of(data: dict, obj) -> str:
    value = data.get(obj.value_key, "")
    if obj.type == "HyperText":
        return strip_html(str(value))
    if obj.type == "Paragraphs" and isinstance(value, list):
        name_key = obj.attrs.get("nameKey", "author")
        text_key = obj.attrs.get("textKey", "text")
        return "\n".join(
            f"{p.get(name_key, '')}: {p.get(text_key, '')}" if isinstance(p, dict) else str(p) for p in value
        )
    return value if isinstance(value, str) else str(value)
