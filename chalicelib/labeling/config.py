"""Label Studio labelling config (the `<View>...</View>` XML): safe parsing and a typed schema.

`parse_label_config(xml)` refuses anything it cannot reason about safely and names the problem:
DTDs and entities (billion laughs, external entities), oversized or too deeply nested documents,
controls without `name`/`toName`, `toName`s that point nowhere, duplicate names, empty or duplicate
choice lists. It keeps what the rest of activelabel needs: the data objects (`$variables`) and the
control tags with their labels.

Tag names are matched case-insensitively (Label Studio's own examples use both `TextArea` and
`Textarea`) and normalised to the canonical casing below. Attribute names are matched
case-insensitively too (`valueType` / `valuetype` both occur in Label Studio's examples); `attrs`
keeps them exactly as written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import defusedxml
import defusedxml.ElementTree as SafeET
from xml.etree.ElementTree import Element, ParseError

from chalicelib.errors import LabelConfigError

MAX_CONFIG_CHARS = 100_000
MAX_DEPTH = 50
MAX_ELEMENTS = 2_000

CONTROL_TAGS = (
    "Choices", "Labels", "Rating", "Number", "Taxonomy", "TextArea", "DateTime", "Pairwise",
    "Ranker", "Relations", "RectangleLabels", "Rectangle", "PolygonLabels", "Polygon",
    "EllipseLabels", "Ellipse", "KeyPointLabels", "KeyPoint", "BrushLabels", "Brush",
    "HyperTextLabels", "ParagraphLabels", "TimeSeriesLabels", "VideoRectangle",
)
OBJECT_TAGS = (
    "Text", "HyperText", "Image", "Audio", "AudioPlus", "Video", "Paragraphs", "Table",
    "TimeSeries", "List", "Chat",
)
# Control tags whose options are nested <Label value=...> elements.
LABEL_CONTROLS = frozenset({
    "Labels", "RectangleLabels", "PolygonLabels", "EllipseLabels", "KeyPointLabels", "BrushLabels",
    "HyperTextLabels", "ParagraphLabels", "TimeSeriesLabels",
})

_CONTROL_BY_LOWER = {t.lower(): t for t in CONTROL_TAGS}
_OBJECT_BY_LOWER = {t.lower(): t for t in OBJECT_TAGS}
_CHOICE_MODES = {"single": "single", "single-radio": "single", "multiple": "multiple"}


@dataclass
class ObjectTag:
    """A data object tag: `<Text name="text" value="$text"/>` -> type "Text", value_key "text"."""

    name: str
    type: str
    value_key: str
    value_type: str | None
    attrs: dict


@dataclass
class Control:
    """A control tag. `labels` are the option values in document order (for Taxonomy: every node's
    value, distinct, in document order); `taxonomy` holds every root->leaf path of a Taxonomy;
    `aliases` maps a `<Choice alias=...>`/`<Label alias=...>` to its value (Label Studio stores the
    alias in results when one is set)."""

    name: str
    type: str
    to_name: list[str]
    labels: list[str]
    choice: str
    attrs: dict
    taxonomy: list[list[str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def result_type(self) -> str:
        """The `type` of this control's result items (`"choices"`, `"labels"`, ...)."""
        return self.type.lower()

    @property
    def dynamic(self) -> bool:
        """True when the options come from task data (`value="$options"`, or Taxonomy `apiUrl`)."""
        a = _lower_keys(self.attrs)
        return str(a.get("value", "")).startswith("$") or bool(a.get("apiurl"))

    def attr(self, name: str, default=None):
        """An attribute by case-insensitive name."""
        return _lower_keys(self.attrs).get(name.lower(), default)


@dataclass
class LabelConfig:
    xml: str
    objects: list[ObjectTag]
    controls: list[Control]

    def variables(self) -> set[str]:
        """The task data keys the config needs (`$text` -> "text")."""
        return {o.value_key for o in self.objects}

    def control(self, name: str) -> Control | None:
        return next((c for c in self.controls if c.name == name), None)

    def object(self, name: str) -> ObjectTag | None:
        return next((o for o in self.objects if o.name == name), None)

    def controls_of_type(self, *types: str) -> list[Control]:
        wanted = {t.lower() for t in types}
        return [c for c in self.controls if c.type.lower() in wanted]

    def objects_of(self, control: Control | str) -> list[ObjectTag]:
        """The data objects a control labels (its `toName`s), in `toName` order."""
        c = self.control(control) if isinstance(control, str) else control
        if c is None:
            return []
        return [o for o in (self.object(n) for n in c.to_name) if o is not None]


# ---------------------------------------------------------------------------------------------


def _lower_keys(d: dict) -> dict:
    return {str(k).lower(): v for k, v in d.items()}


def _local(tag) -> str:
    """Tag name without a namespace; comments/PIs (non-str tags) give ""."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_shape(root: Element) -> None:
    """Element count and nesting depth, walked iteratively (no recursion on hostile input)."""
    count = 0
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        count += 1
        if count > MAX_ELEMENTS:
            raise LabelConfigError(f"label config has more than {MAX_ELEMENTS} elements (limit {MAX_ELEMENTS})")
        if depth > MAX_DEPTH:
            raise LabelConfigError(
                f"label config nests elements {depth} levels deep; the nesting depth limit is {MAX_DEPTH}"
            )
        stack.extend((child, depth + 1) for child in el)


def _parse_xml(xml) -> Element:
    if not isinstance(xml, str):
        raise LabelConfigError(f"label config must be a string of XML, got {type(xml).__name__}")
    if len(xml) > MAX_CONFIG_CHARS:
        raise LabelConfigError(
            f"label config is {len(xml)} characters long; the size limit is {MAX_CONFIG_CHARS} characters"
        )
    if not xml.strip():
        raise LabelConfigError("label config is empty; expected <View>...</View>")
    try:
        return SafeET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise LabelConfigError(
            "label config must not contain a DTD (<!DOCTYPE ...>); DTDs and entity declarations are refused"
        ) from None
    except defusedxml.EntitiesForbidden as e:
        raise LabelConfigError(f"label config must not declare entities (found entity {e.name!r})") from None
    except defusedxml.ExternalReferenceForbidden:
        raise LabelConfigError("label config must not reference external resources") from None
    except defusedxml.DefusedXmlException as e:  # any other defusedxml refusal
        raise LabelConfigError(f"label config refused: {e}") from None
    except ParseError as e:
        raise LabelConfigError(f"label config is not well-formed XML: {e}") from None


def _choice_mode(tag: str, name: str, attrs: dict) -> str:
    raw = attrs.get("choice")
    if raw is None:
        return "single"
    mode = _CHOICE_MODES.get(str(raw).strip().lower())
    if mode is None:
        raise LabelConfigError(
            f"control {name!r} (<{tag}>) has choice={raw!r}; expected one of ['multiple', 'single', 'single-radio']"
        )
    return mode


def _option_values(el: Element, control: str, tag: str, child_tag: str) -> tuple[list[str], dict[str, str]]:
    """Values (and aliases) of the nested <Choice>/<Label>/<Relation> elements of a control."""
    values: list[str] = []
    aliases: dict[str, str] = {}
    seen: set[str] = set()
    n = 0
    for child in el.iter():
        if child is el or _local(child.tag).lower() != child_tag.lower():
            continue
        n += 1
        a = _lower_keys(child.attrib)
        value = a.get("value")
        if value is None or value == "":
            raise LabelConfigError(f"<{child_tag}> #{n} of control {control!r} (<{tag}>) has no value")
        if value in seen:
            raise LabelConfigError(f"control {control!r} (<{tag}>) has duplicate {child_tag.lower()} {value!r}")
        seen.add(value)
        values.append(value)
        alias = a.get("alias")
        if alias:
            aliases[alias] = value
    return values, aliases


def _taxonomy_paths(el: Element, control: str) -> tuple[list[list[str]], list[str], dict[str, str]]:
    """Every root->leaf path of a Taxonomy's nested <Choice> tree (depth is bounded by MAX_DEPTH)."""
    paths: list[list[str]] = []
    labels: list[str] = []
    aliases: dict[str, str] = {}

    def choice_children(node: Element) -> list[Element]:
        out = []
        for child in node:
            if _local(child.tag).lower() == "choice":
                out.append(child)
            else:  # layout wrappers are transparent
                out.extend(choice_children(child))
        return out

    def walk(node: Element, prefix: list[str]) -> None:
        seen: set[str] = set()
        for child in choice_children(node):
            a = _lower_keys(child.attrib)
            value = a.get("value")
            where = " / ".join(prefix) or "the root"
            if value is None or value == "":
                raise LabelConfigError(f"a <Choice> under {where} of taxonomy {control!r} has no value")
            if value in seen:
                raise LabelConfigError(f"taxonomy {control!r} has duplicate choice {value!r} under {where}")
            seen.add(value)
            if value not in labels:
                labels.append(value)
            if a.get("alias"):
                aliases[a["alias"]] = value
            path = prefix + [value]
            if choice_children(child):
                walk(child, path)
            else:
                paths.append(path)

    walk(el, [])
    return paths, labels, aliases


def _parse_control(el: Element, tag: str) -> Control | None:
    a = _lower_keys(el.attrib)
    name = (a.get("name") or "").strip()
    to_name_raw = a.get("toname")
    if tag == "Relations" and (not name or not to_name_raw):
        return None  # Label Studio's <Relations> usually has neither; relation items need no from_name
    if not name:
        hint = f" (toName={to_name_raw!r})" if to_name_raw else ""
        raise LabelConfigError(f"control tag <{tag}>{hint} has no 'name' attribute")
    if to_name_raw is None or not to_name_raw.strip():
        raise LabelConfigError(
            f"control {name!r} (<{tag}>) has no 'toName' attribute; it must name the object tag it labels"
        )
    to_name = [t.strip() for t in to_name_raw.split(",") if t.strip()]
    choice = _choice_mode(tag, name, a)
    labels: list[str] = []
    aliases: dict[str, str] = {}
    taxonomy: list[list[str]] = []
    dynamic = str(a.get("value", "")).startswith("$")

    if tag == "Choices":
        labels, aliases = _option_values(el, name, tag, "Choice")
        if not labels and not dynamic:
            raise LabelConfigError(f"control {name!r} (<Choices>) has no <Choice> elements; it needs at least one")
    elif tag in LABEL_CONTROLS:
        labels, aliases = _option_values(el, name, tag, "Label")
        if not labels and not dynamic:
            raise LabelConfigError(f"control {name!r} (<{tag}>) has no <Label> elements; it needs at least one")
    elif tag == "Relations":
        labels, aliases = _option_values(el, name, tag, "Relation")
    elif tag == "Taxonomy":
        taxonomy, labels, aliases = _taxonomy_paths(el, name)
        if not taxonomy and not dynamic and not a.get("apiurl"):
            raise LabelConfigError(f"control {name!r} (<Taxonomy>) has no <Choice> elements; it needs at least one")
    elif tag == "Rating":
        raw = a.get("maxrating", "5")
        try:
            max_rating = int(str(raw).strip())
        except ValueError:
            max_rating = 0
        if max_rating < 1:
            raise LabelConfigError(f"control {name!r} (<Rating>) has maxRating={raw!r}; expected an integer >= 1")
    elif tag == "Number":
        bounds = {}
        for key in ("min", "max"):
            if a.get(key) not in (None, ""):
                try:
                    bounds[key] = float(a[key])
                except ValueError:
                    bounds[key] = float("nan")
                if bounds[key] != bounds[key] or bounds[key] in (float("inf"), float("-inf")):
                    raise LabelConfigError(f"control {name!r} (<Number>) has {key}={a[key]!r}; expected a number")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise LabelConfigError(
                f"control {name!r} (<Number>) has min={a['min']!r} greater than max={a['max']!r}"
            )
    return Control(name=name, type=tag, to_name=to_name, labels=labels, choice=choice,
                   attrs=dict(el.attrib), taxonomy=taxonomy, aliases=aliases)


def _parse_object(el: Element, tag: str, literal: dict[str, tuple[str, str | None]]) -> ObjectTag | None:
    a = _lower_keys(el.attrib)
    name = (a.get("name") or "").strip()
    value = a.get("value")
    value_type = a.get("valuetype")
    if (value is None or value == "") and tag == "Image" and str(a.get("valuelist", "")).startswith("$"):
        value, value_type = a["valuelist"], value_type or "list"
    if value is None or not value.startswith("$"):
        # A literal value (<Text name="t" value="Read this first"/>) shows fixed content and is
        # not a data object. Remember it so a control pointing at it gets a precise message.
        if name:
            literal[name] = (tag, value)
        return None
    key = value[1:].strip()
    if not key:
        raise LabelConfigError(f"object tag <{tag}> has value {value!r}; expected '$' followed by a data key")
    if not name:
        raise LabelConfigError(f"object tag <{tag} value={value!r}> has no 'name' attribute")
    return ObjectTag(name=name, type=tag, value_key=key, value_type=value_type, attrs=dict(el.attrib))


@functools.lru_cache(maxsize=128)
def parse_label_config(xml: str) -> LabelConfig:
    """Parse and check a Label Studio labelling config. Raises LabelConfigError naming the problem.

    Parsed once per distinct config per process (a cache keyed by the XML, shared by every path:
    completions, the stream, predict, /ls/predict, training); callers only read what it returns."""
    root = _parse_xml(xml)
    _check_shape(root)
    if _local(root.tag).lower() != "view":
        raise LabelConfigError(f"label config root must be <View>, got <{_local(root.tag)}>")

    objects: list[ObjectTag] = []
    controls: list[Control] = []
    literal: dict[str, tuple[str, str | None]] = {}
    owner: dict[str, str] = {}  # name -> tag that declared it

    for el in root.iter():
        low = _local(el.tag).lower()
        if low in _CONTROL_BY_LOWER:
            tag = _CONTROL_BY_LOWER[low]
            control = _parse_control(el, tag)
            if control is None:
                continue
            if control.name in owner:
                raise LabelConfigError(
                    f"duplicate tag name {control.name!r}: used by <{owner[control.name]}> and <{tag}>"
                )
            owner[control.name] = tag
            controls.append(control)
        elif low in _OBJECT_BY_LOWER:
            tag = _OBJECT_BY_LOWER[low]
            obj = _parse_object(el, tag, literal)
            if obj is None:
                continue
            if obj.name in owner:
                raise LabelConfigError(f"duplicate tag name {obj.name!r}: used by <{owner[obj.name]}> and <{tag}>")
            owner[obj.name] = tag
            objects.append(obj)

    if not controls:
        raise LabelConfigError(
            "label config has no control tag; add one of " + ", ".join(f"<{t}>" for t in CONTROL_TAGS[:6]) + ", ..."
        )
    object_names = {o.name for o in objects}
    for c in controls:
        for target in c.to_name:
            if target in object_names:
                continue
            if target in literal:
                tag, value = literal[target]
                shown = "no value" if value is None else f"the literal value {_short(value)}"
                raise LabelConfigError(
                    f"control {c.name!r} (<{c.type}>) has toName {target!r}, but <{tag} name={target!r}> has "
                    f"{shown} instead of a task data variable such as value=\"${target}\""
                )
            raise LabelConfigError(
                f"control {c.name!r} (<{c.type}>) has toName {target!r}, but no object tag is named {target!r}; "
                f"object tags: {sorted(object_names)}"
            )
    return LabelConfig(xml=xml, objects=objects, controls=controls)
