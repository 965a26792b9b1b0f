"""Create the stateful resources of infra/resources.yaml in the embedded local AWS (moto).

The CloudFormation merge template is the single definition of tables, bucket and queues:
`chalice package --merge-template` uses it for AWS, and this module reads the same file and
creates the same resources with boto3 against whatever endpoint the environment gives
(moto's `mock_aws` in tests, `AWS_ENDPOINT_URL` pointing at a moto server for the local stack).

Only what the local stack needs is understood: DynamoDB tables, S3 buckets and SQS queues,
with `Ref`, `Fn::Sub`, `Fn::GetAtt` and `Fn::Join` resolved. Resources that the local runtime
plays itself (functions, event source mappings, roles, API Gateway, schedules) are skipped;
anything else is an error, so a new resource type cannot silently go missing locally.

The template is read and resolved by cfn_template.py; resource_creators.py makes each resource.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from chalicelib import config
from chalicelib.local.cfn_template import TemplateError, _references, _Resolver, load_template
from chalicelib.local.resource_creators import _CREATORS, _Creator

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "activelabel-local"

# Resource types the local runtime stands in for (Chalice local serves the API, the event pump
# plays event source mappings and schedules) or that mean nothing to moto (policies, alarms, their
# topic and its key).
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
    "AWS::SNS::",  # the alarm topic and its key: alarms do not run locally
    "AWS::KMS::",
)
SKIPPED_TYPES = {"AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"}



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
                f"(chalicelib/local/resource_creators.py knows {sorted(_CREATORS)}); add it there")
        if "Condition" in res:
            raise TemplateError(f"{lid}: conditional resources are not supported locally")
        if types is not None and rtype not in types:
            continue
        props = resolver.resolve(res.get("Properties") or {})
        getattr(creator, _CREATORS[rtype])(lid, props)

    return _app_env(resolver, types)


def _app_env(resolver: _Resolver, types: set[str] | None) -> dict[str, str]:
    """The env the app reads: physical names (a queue's URL) per `config.RESOURCE_ENV`, the
    queues' names and the completions table's stream ARN."""
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
