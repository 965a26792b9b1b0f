"""The operator's alarms, topic and dashboard in the packaged template (issue 28), and their runbook:
every function's errors and throttles, every dead-letter queue, the stream's iterator age, repeated
training failures and Label Studio refusals alarm to one SNS topic; docs/operations.md has a section
for each alarm."""
import json
import re

from tests.functional.infra.conftest import ROOT


def resources(template, rtype):
    return {lid: r for lid, r in template["Resources"].items() if r.get("Type") == rtype}


def alarms_on(template, namespace, metric):
    """{dimension value reference: alarm} of the alarms on `metric`."""
    found = {}
    for lid, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props["Namespace"] == namespace and props["MetricName"] == metric:
            (dimension,) = props["Dimensions"]
            found[json.dumps(dimension["Value"], sort_keys=True)] = lid
    return found


def test_every_function_has_an_errors_and_a_throttles_alarm(cloudformation):
    template, _ = cloudformation
    functions = resources(template, "AWS::Lambda::Function")
    assert len(functions) == 5
    for metric in ("Errors", "Throttles"):
        alarmed = alarms_on(template, "AWS/Lambda", metric)
        assert set(alarmed) == {json.dumps({"Ref": lid}) for lid in functions}, metric


def test_every_dead_letter_queue_and_the_streams_failure_queue_have_an_alarm(cloudformation):
    template, _ = cloudformation
    dead = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            for q in resources(template, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]}
    for mapping in resources(template, "AWS::Lambda::EventSourceMapping").values():
        destination = mapping["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination:
            dead.add(destination["Fn::GetAtt"][0])
    assert len(dead) == 3
    alarmed = alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert set(alarmed) == {json.dumps({"Fn::GetAtt": [q, "QueueName"]}) for q in dead}
    for lid in alarmed.values():
        props = template["Resources"][lid]["Properties"]
        assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_stream_age_failing_trainings_and_label_studio_refusals_alarm(cloudformation):
    template, _ = cloudformation
    assert set(alarms_on(template, "AWS/Lambda", "IteratorAge")) == {json.dumps({"Ref": "OnCompletion"})}
    stack = json.dumps({"Ref": "AWS::StackName"})
    assert set(alarms_on(template, "activelabel", "TrainingsFailed")) == {stack}
    assert set(alarms_on(template, "activelabel", "LabelStudioRefusals")) == {stack}


def test_every_alarm_notifies_the_topic_and_the_operator_can_subscribe(cloudformation):
    template, _ = cloudformation
    (topic,) = resources(template, "AWS::SNS::Topic")
    for lid, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}], lid
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic}], lid
    (subscription,) = resources(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and statement["Action"] == "sns:Publish"


def test_the_dashboard_shows_the_metrics_the_code_emits(cloudformation):
    from chalicelib.telemetry import metrics

    template, _ = cloudformation
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    body = body if isinstance(body, str) else body[0]
    assert set(metrics.UNITS) <= set(re.findall(r'"activelabel",\s*"(\w+)"', body))
    assert "IteratorAge" in body and "ApproximateNumberOfMessagesVisible" in body


def test_every_alarm_has_its_runbook_section(cloudformation):
    template, _ = cloudformation
    runbook = (ROOT / "docs" / "operations.md").read_text()
    sections = set(re.findall(r"^### (\w+)$", runbook, re.MULTILINE))
    alarms = set(resources(template, "AWS::CloudWatch::Alarm"))
    assert alarms - sections == set(), "alarms without a section in docs/operations.md"
    assert {s for s in sections if s.endswith("Alarm")} - alarms == set(), "sections of alarms that are gone"
    for lid in alarms:
        assert f"docs/operations.md#{lid.lower()}" in template["Resources"][lid]["Properties"]["AlarmDescription"]
