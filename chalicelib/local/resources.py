"""Create the stateful resources of infra/resources.yaml in the embedded local AWS (moto).

The CloudFormation merge template is the single definition of tables, bucket and queues:
`chalice package --merge-template` uses it for AWS, and this module reads the same file and
creates the same resources with boto3 against whatever endpoint the environment gives
(moto's `mock_aws` in tests, `AWS_ENDPOINT_URL` pointing at a moto server for the local stack).

Only what the local stack needs is understood: DynamoDB tables, S3 buckets and SQS queues,
with `Ref`, `Fn::Sub`, `Fn::GetAtt` and `Fn::Join` resolved. Resources that the local runtime
plays itself (functions, event source mappings, roles, API Gateway, schedules) are skipped;
anything else is an error, so a new resource type cannot silently go missing locally.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from chalicelib import config

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "infra" / "resources.yaml"
DEFAULT_STACK_NAME = "activelabel-local"

# Buckets have no name in the template (CloudFormation generates one); locally they are
# `{stack}-{suffix}`, matching chalicelib.config's defaults.
BUCKET_SUFFIX = {"ModelBucket": "models"}

# Resource types the local runtime stands in for (Chalice local serves the API, the event pump
# plays event source mappings and schedules) or that mean nothing to moto (policies, alarms).
SKIPPED_TYPE_PREFIXES = (
    "AWS::Lambda::",
    "AWS::Serverless::",
    "AWS::IAM::",
    "AWS::ApiGateway::",
    "AWS::ApiGatewayV2::",
    "AWS::Events::",
    "AWS::Scheduler::",
    "AWS::Logs::",
    "AWS::CloudWatch::",
)
SKIPPED_TYPES = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"}


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


# --------------------------------------------------------------------------- creators

def _bool_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class _Creator:
    def __init__(self, session: Any, resolver: _Resolver, time_to_live: bool = True):
        self.session = session
        self.r = resolver
        self.time_to_live = time_to_live  # False for DynamoDB implementations without the TTL API (dynalite)
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.r.region)
        return self._clients[service]

    # -- DynamoDB
    def table(self, logical_id: str, props: dict) -> None:
        ddb = self.client("dynamodb")
        name = props.get("TableName") or f"{self.r.stack_name}-{logical_id}"
        try:
            desc = ddb.describe_table(TableName=name)["Table"]
            log.debug("table %s exists", name)
        except ddb.exceptions.ResourceNotFoundException:
            desc = self._create_table(ddb, name, props)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled", True) in (True, "true") and self.time_to_live:
            current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"],
                                             "Enabled": True},
                )
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if pitr.get("PointInTimeRecoveryEnabled") in (True, "true"):
            try:
                ddb.update_continuous_backups(
                    TableName=name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
            except Exception as e:  # not essential locally
                log.debug("point-in-time recovery on %s not set: %s", name, e)
        self.r.refs[logical_id] = name
        self.r.attrs[logical_id] = {"Arn": desc["TableArn"]}
        if desc.get("LatestStreamArn"):
            self.r.attrs[logical_id]["StreamArn"] = desc["LatestStreamArn"]

    def _create_table(self, ddb: Any, name: str, props: dict) -> dict:
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                indexes = []
                for index in props[key]:
                    index = {k: v for k, v in index.items()
                             if k in ("IndexName", "KeySchema", "Projection",
                                      "ProvisionedThroughput")}
                    if (key == "GlobalSecondaryIndexes"
                            and kwargs["BillingMode"] == "PROVISIONED"
                            and "ProvisionedThroughput" not in index):
                        index["ProvisionedThroughput"] = kwargs["ProvisionedThroughput"]
                    indexes.append(index)
                kwargs[key] = indexes
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True,
                                             "StreamViewType": stream["StreamViewType"]}
        sse = props.get("SSESpecification")
        if sse:
            spec = {"Enabled": sse.get("SSEEnabled") in (True, "true")}
            if sse.get("SSEType"):
                spec["SSEType"] = sse["SSEType"]
            if sse.get("KMSMasterKeyId"):
                spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
            kwargs["SSESpecification"] = spec
        if props.get("Tags"):
            kwargs["Tags"] = props["Tags"]
        if "DeletionProtectionEnabled" in props:
            kwargs["DeletionProtectionEnabled"] = props["DeletionProtectionEnabled"] in (True, "true")
        if props.get("TableClass"):
            kwargs["TableClass"] = props["TableClass"]
        log.info("creating table %s", name)
        ddb.create_table(**kwargs)
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        return ddb.describe_table(TableName=name)["Table"]

    # -- S3
    def bucket(self, logical_id: str, props: dict) -> None:
        s3 = self.client("s3")
        suffix = BUCKET_SUFFIX.get(logical_id) or re.sub(
            r"(?<!^)(?=[A-Z])", "-", logical_id).lower()
        name = props.get("BucketName") or f"{self.r.stack_name}-{suffix}"
        try:
            s3.head_bucket(Bucket=name)
            log.debug("bucket %s exists", name)
        except s3.exceptions.ClientError:
            log.info("creating bucket %s", name)
            kwargs: dict[str, Any] = {"Bucket": name}
            if self.r.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.r.region}
            s3.create_bucket(**kwargs)
        versioning = props.get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name,
                                     VersioningConfiguration={"Status": versioning["Status"]})
        encryption = props.get("BucketEncryption")
        if encryption:
            rules = []
            for rule in encryption["ServerSideEncryptionConfiguration"]:
                rule = dict(rule)  # CloudFormation and the S3 API name the default differently
                if "ServerSideEncryptionByDefault" in rule:
                    rule["ApplyServerSideEncryptionByDefault"] = rule.pop(
                        "ServerSideEncryptionByDefault")
                rules.append(rule)
            s3.put_bucket_encryption(Bucket=name,
                                     ServerSideEncryptionConfiguration={"Rules": rules})
        block = props.get("PublicAccessBlockConfiguration")
        if block:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={k: v in (True, "true") for k, v in block.items()},
            )
        if props.get("Tags"):
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": props["Tags"]})
        self.r.refs[logical_id] = name
        self.r.attrs[logical_id] = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.r.region}.amazonaws.com",
        }

    # -- SQS
    _QUEUE_ATTRS = (
        "ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue",
        "FifoThroughputLimit", "KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId",
        "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled", "VisibilityTimeout",
    )

    def queue(self, logical_id: str, props: dict) -> None:
        sqs = self.client("sqs")
        fifo = props.get("FifoQueue") in (True, "true")
        name = props.get("QueueName") or (
            f"{self.r.stack_name}-{logical_id}" + (".fifo" if fifo else ""))
        attributes = {k: _bool_str(props[k]) for k in self._QUEUE_ATTRS if k in props}
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                value = props[key]
                attributes[key] = value if isinstance(value, str) else json.dumps(
                    {k: (str(v) if k == "maxReceiveCount" else v) for k, v in value.items()})
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            log.debug("queue %s exists", name)
        except sqs.exceptions.QueueDoesNotExist:
            log.info("creating queue %s", name)
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.r.refs[logical_id] = url
        self.r.attrs[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}


_CREATORS = {
    "AWS::DynamoDB::Table": "table",
    "AWS::S3::Bucket": "bucket",
    "AWS::SQS::Queue": "queue",
}


def _creation_order(resources: dict[str, dict]) -> list[str]:
    """Logical ids in dependency order (Ref/GetAtt/Sub references and DependsOn)."""
    deps: dict[str, set[str]] = {}
    for lid, res in resources.items():
        depends_on = res.get("DependsOn") or []
        if isinstance(depends_on, str):
            depends_on = [depends_on]
        refs = _references(res.get("Properties", {})) | set(depends_on)
        deps[lid] = {r for r in refs if r in resources}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(lid: str, path: list[str]) -> None:
        if state.get(lid) == 2:
            return
        if state.get(lid) == 1:
            raise TemplateError("circular dependency: " + " -> ".join(path + [lid]))
        state[lid] = 1
        for dep in sorted(deps[lid]):
            visit(dep, path + [lid])
        state[lid] = 2
        order.append(lid)

    for lid in resources:
        visit(lid, [])
    return order


def create_resources(stack_name: str = DEFAULT_STACK_NAME,
                     template_path: str | Path | None = None,
                     *, session: Any = None, region: str | None = None,
                     parameters: dict[str, Any] | None = None,
                     types: set[str] | None = None, time_to_live: bool = True) -> dict[str, str]:
    """Create every table, bucket and queue of the template; return the env for the app.

    Idempotent: resources that exist are left as they are (their names are still returned).
    The mapping has, for each logical id of `chalicelib.config.RESOURCE_ENV` in the template,
    its env var -> physical name (a queue's URL), plus the train queue's name and the
    completions table's stream ARN, which the app needs at import time.

    `types` limits creation to some resource types (e.g. only `AWS::DynamoDB::Table` on a
    DynamoDB-only server); `time_to_live=False` skips the TTL API, which dynalite lacks.
    """
    import boto3

    template = load_template(template_path)
    session = session or boto3.session.Session()
    region = region or session.region_name or config.region()
    params = {name: spec.get("Default") for name, spec in
              (template.get("Parameters") or {}).items() if "Default" in spec}
    params.update(parameters or {})
    account: dict[str, str] = {}

    def account_id() -> str:
        if "id" not in account:
            account["id"] = session.client("sts", region_name=region).get_caller_identity()[
                "Account"]
        return account["id"]

    resolver = _Resolver(stack_name, region, account_id, params)
    creator = _Creator(session, resolver, time_to_live)
    resources: dict[str, dict] = template["Resources"]

    for lid in _creation_order(resources):
        res = resources[lid] or {}
        rtype = res.get("Type")
        if rtype is None:
            log.debug("%s: no Type (a merge fragment for a Chalice resource), skipped", lid)
            continue
        if rtype in SKIPPED_TYPES or rtype.startswith(SKIPPED_TYPE_PREFIXES):
            log.debug("%s: %s is played by the local runtime, skipped", lid, rtype)
            continue
        if rtype not in _CREATORS:
            raise TemplateError(
                f"{lid}: resource type {rtype} is not supported by the local stack "
                f"(chalicelib/local/resources.py knows {sorted(_CREATORS)}); add it there")
        if "Condition" in res:
            raise TemplateError(f"{lid}: conditional resources are not supported locally")
        if types is not None and rtype not in types:
            continue
        props = resolver.resolve(res.get("Properties") or {})
        getattr(creator, _CREATORS[rtype])(lid, props)

    env: dict[str, str] = {}
    for lid, var in config.RESOURCE_ENV.items():
        if lid in resolver.refs:
            env[var] = resolver.refs[lid]
        elif types is None:
            log.warning("%s (for %s) is not in the template", lid, var)
    if "TrainQueue" in resolver.attrs:
        env[config.TRAIN_QUEUE_NAME_ENV] = resolver.attrs["TrainQueue"]["QueueName"]
    if "RescoreQueue" in resolver.attrs:
        env[config.RESCORE_QUEUE_NAME_ENV] = resolver.attrs["RescoreQueue"]["QueueName"]
    stream_arn = resolver.attrs.get("CompletionsTable", {}).get("StreamArn")
    if stream_arn:
        env[config.COMPLETIONS_STREAM_ENV] = stream_arn
    return env
