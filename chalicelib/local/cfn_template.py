"""Reading infra/resources.yaml for the local stack: CloudFormation's YAML and its intrinsics.

`load_template` reads the short tags (`!Sub`, `!GetAtt`, ...) as the long form; `_Resolver`
resolves `Ref`, `Fn::Sub`, `Fn::GetAtt` and `Fn::Join` to the names chalicelib.local.resources
creates.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "resources.yaml"


class TemplateError(ValueError):
    """The template uses something the local stack cannot create or resolve."""


# --------------------------------------------------------------------------- YAML loading

class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (`!Sub`, `!GetAtt`, ...) as the long form."""


_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "Sub": "Fn::Sub",
    "GetAtt": "Fn::GetAtt",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "ImportValue": "Fn::ImportValue",
    "GetAZs": "Fn::GetAZs",
    "Transform": "Fn::Transform",
    "Length": "Fn::Length",
    "ToJsonString": "Fn::ToJsonString",
}


def _make_constructor(long_name: str) -> Callable[[yaml.Loader, yaml.Node], dict]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if long_name == "Fn::GetAtt":  # !GetAtt Resource.Attribute
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {long_name: value}

    return construct


for _short, _long in _SHORT_TAGS.items():
    CloudFormationLoader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_template(path: str | Path | None = None) -> dict:
    """Load a CloudFormation YAML template, short tags turned into their `Fn::` forms.

    A relative path is taken from the repository root, so the default works from any cwd.
    """
    p = Path(path) if path is not None else DEFAULT_TEMPLATE
    if not p.is_absolute() and not p.exists():
        p = REPO_ROOT / p
    with open(p, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{p}: not a CloudFormation template (no Resources mapping)")
    return template


# --------------------------------------------------------------------------- resolution

def _references(value: Any) -> set[str]:
    """Logical ids a property value refers to (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                found.add(parts[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                local_vars = {} if isinstance(arg, str) else (arg[1] if len(arg) > 1 else {})
                for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                    head = name.split(".", 1)[0]
                    if head not in local_vars:
                        found.add(head)
                found |= _references(local_vars)
                return {f for f in found if not f.startswith("AWS::")}
        for v in value.values():
            found |= _references(v)
    elif isinstance(value, list):
        for v in value:
            found |= _references(v)
    return {f for f in found if not f.startswith("AWS::")}


class _Resolver:
    def __init__(self, stack_name: str, region: str, account_id: Callable[[], str],
                 parameters: dict[str, Any]):
        self.stack_name = stack_name
        self.region = region
        self._account_id = account_id
        self.parameters = parameters
        self.refs: dict[str, str] = {}  # logical id -> Ref value
        self.attrs: dict[str, dict[str, str]] = {}  # logical id -> GetAtt values

    def pseudo(self, name: str) -> str:
        if name == "AWS::StackName":
            return self.stack_name
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self._account_id()
        if name == "AWS::Partition":
            return "aws"
        if name == "AWS::URLSuffix":
            return "amazonaws.com"
        if name == "AWS::StackId":
            return (f"arn:aws:cloudformation:{self.region}:{self._account_id()}:stack/"
                    f"{self.stack_name}/00000000-0000-0000-0000-000000000000")
        if name == "AWS::NoValue":
            return ""
        raise TemplateError(f"unsupported pseudo parameter {name}")

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return str(self.parameters[name])
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"Ref {name}: not a parameter nor a resource created so far")

    def get_att(self, name: str, attr: str) -> str:
        try:
            return self.attrs[name][attr]
        except KeyError:
            known = sorted(self.attrs.get(name, {}))
            raise TemplateError(
                f"Fn::GetAtt {name}.{attr}: unknown (resource {name} offers {known})"
            ) from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(parts[0], self.resolve(parts[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                return self.resolve(sep).join(str(self.resolve(i)) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return self.resolve(text).split(self.resolve(sep))
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"{key} is not supported by the local stack")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, local_vars = arg, {}
        else:
            text, local_vars = arg[0], (self.resolve(arg[1]) if len(arg) > 1 else {})

        def replace(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):  # ${!Literal}
                return "${" + name[1:] + "}"
            if name in local_vars:
                return str(local_vars[name])
            if "." in name and not name.startswith("AWS::"):
                res, attr = name.split(".", 1)
                return self.get_att(res, attr)
            return self.ref(name)

        return re.sub(r"\$\{([^}]*)\}", replace, text)
