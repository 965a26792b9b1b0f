"""The creators of the local stack's resources: DynamoDB tables, S3 buckets, SQS queues.

chalicelib.local.resources calls the method `_CREATORS` names for each resource of the template,
with its properties resolved; each records its physical name and attributes on the resolver.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from chalicelib.local.cfn_template import _Resolver

log = logging.getLogger(__name__)

# Buckets have no name in the template (CloudFormation generates one); locally they are
# `{stack}-{suffix}`, matching chalicelib.config's defaults.
BUCKET_SUFFIX = {"ModelBucket": "models"}


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

