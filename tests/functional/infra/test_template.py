"""The generated CloudFormation template: lint, event-source wiring, names, sizing, checkov.

Checked twice where it matters: as generated (SAM, what `make deploy` uploads) and after the
SAM transform (plain CloudFormation, where cfn-lint also validates the event source mappings,
roles and functions that the transform produces).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chalicelib import config
from tests.functional.infra.conftest import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
FUNCTIONS = {"api_handler": "APIHandler", "on_completion": "OnCompletion",
             "train_worker": "TrainWorker", "retrain_schedule": "RetrainSchedule",
             "rescore_worker": "RescoreWorker"}


def chalice_config():
    return json.loads((ROOT / ".chalice" / "config.json").read_text())


def resources_of(template, rtype):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def mapping_of(template, function):
    (mapping,) = [m["Properties"] for m in resources_of(template, "AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["FunctionName"] == {"Ref": function}]
    return mapping


@pytest.fixture(scope="module")
def cfn_lint(packaged, cloudformation, tmp_path_factory):
    """cfn-lint, run once over the generated SAM template, its transformed CloudFormation, and a
    deliberately broken copy of the latter (the check must be able to fail): {file name: [findings]}."""
    template, translated = cloudformation
    broken = json.loads(json.dumps(template))
    mapping = mapping_of(broken, "OnCompletion")
    mapping["DestinationConfig"]["OnFailure"]["Destination"] = {"Fn::GetAtt": ["NoSuchQueue", "Arn"]}
    mapping["MaximumRetryAttempts"] = 100000
    broken_path = tmp_path_factory.mktemp("broken") / "broken.json"
    broken_path.write_text(json.dumps(broken))
    files = [packaged["out"] / "sam.yaml", translated, broken_path]
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--format", "json", *map(str, files)],
        capture_output=True, text=True, timeout=300)
    findings = {Path(f).name: [] for f in files}
    for match in json.loads(out.stdout or "[]"):
        findings[Path(match["Filename"]).name].append(f"{match['Rule']['Id']} {match['Message']}")
    return findings


def test_cfn_lint_passes_on_the_sam_and_the_transformed_template(cfn_lint, packaged):
    assert cfn_lint["sam.yaml"] == []
    assert not re.search(r"[&*]id\d", (packaged["out"] / "sam.yaml").read_text()), "YAML aliases left"
    assert cfn_lint["translated.json"] == []


def test_cfn_lint_catches_a_broken_wiring(cfn_lint):
    """A destination that does not exist and an out-of-range retry count are reported."""
    text = "\n".join(cfn_lint["broken.json"])
    assert "NoSuchQueue" in text and "100000" in text, text


def test_completion_stream_mapping_has_what_chalice_lacks(cloudformation):
    template, _ = cloudformation
    mapping = mapping_of(template, "OnCompletion")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["CompletionsTable", "StreamArn"]}  # not Chalice's literal
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10000
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["CompletionStreamFailureQueue", "Arn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    failure_queue = template["Resources"]["CompletionStreamFailureQueue"]["Properties"]
    assert not failure_queue.get("FifoQueue"), "Lambda on-failure destinations must be standard queues"


def test_train_queue_mapping_reports_partial_failures_and_cannot_outrun_its_function(cloudformation):
    template, _ = cloudformation
    mapping = mapping_of(template, "TrainWorker")
    assert mapping["EventSourceArn"] == {"Fn::Sub": "${TrainQueue.Arn}"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 1
    worker = template["Resources"]["TrainWorker"]["Properties"]
    queue = template["Resources"]["TrainQueue"]["Properties"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] <= worker["ReservedConcurrentExecutions"]
    assert queue["VisibilityTimeout"] > worker["Timeout"], "a running training must never be redelivered"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]}


def test_every_function_uses_the_layer_and_points_at_this_stacks_resources(cloudformation):
    template, _ = cloudformation
    functions = resources_of(template, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS.values())
    (layer,) = resources_of(template, "AWS::Lambda::LayerVersion")
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", name
        assert props["Layers"] == [{"Ref": layer}], name
        env = props["Environment"]["Variables"]
        for logical_id, variable in config.RESOURCE_ENV.items():
            assert env[variable] == {"Ref": logical_id}, (name, variable)
        assert env[config.TRAIN_QUEUE_NAME_ENV] == {"Fn::GetAtt": ["TrainQueue", "QueueName"]}
        role = props["Role"]["Fn::GetAtt"][0]
        assert role == f"{name}Role".replace("APIHandler", "ApiHandler"), "one role per function"


def test_stage_names_in_chalice_config_are_the_stack_names(sam_template):
    """Deployed as stack `activelabel-<stage>`, the template names what .chalice/config.json names."""
    for stage, settings in chalice_config()["stages"].items():
        env = settings.get("environment_variables", {})
        stack = f"activelabel-{stage}"
        for logical_id, variable in {**config.RESOURCE_ENV, "TrainQueue": config.TRAIN_QUEUE_NAME_ENV}.items():
            if variable not in env:
                continue
            props = sam_template["Resources"][logical_id]["Properties"]
            name = props.get("TableName") or props.get("QueueName")
            assert name["Fn::Sub"].replace("${AWS::StackName}", stack) == env[variable], (stage, variable)


def test_function_sizes_fit_their_work():
    functions = chalice_config()["stages"]["dev"]["lambda_functions"]
    api, stream, train, schedule, rescore = (functions[n] for n in FUNCTIONS)
    assert api["lambda_timeout"] <= 29, "API Gateway cuts REST integrations at 29 s"
    assert stream["lambda_memory_size"] <= 512 and schedule["lambda_memory_size"] <= 512  # DynamoDB calls only
    assert train["lambda_memory_size"] >= 2048 and train["lambda_timeout"] == 900
    assert train["reserved_concurrency"] >= 1 and schedule["reserved_concurrency"] == 1
    # rescoring loads a model and scores up to a chunk of 2,000 tasks, within its queue's visibility
    assert rescore["lambda_memory_size"] >= 1024 and rescore["lambda_timeout"] <= 300
    # every function has its own hand-written policy, and the file exists
    for name, settings in functions.items():
        assert (ROOT / ".chalice" / settings["iam_policy_file"]).is_file(), name
    assert chalice_config()["autogen_policy"] is False


def load_skips():
    skips = yaml.safe_load((ROOT / "infra" / "checkov-skips.yaml").read_text())
    for check_id, entry in skips.items():
        assert len(entry.get("reason", "")) > 40, f"{check_id}: give a reason"
    return {(check_id, resource) for check_id, entry in skips.items() for resource in entry["resources"]}


def test_checkov_findings_are_fixed_or_listed_with_a_reason(packaged, tmp_path):
    if not CHECKOV.exists():
        pytest.skip(".venv-checkov is missing: `make checkov-venv` (or `make test`) creates it")
    out = subprocess.run([str(CHECKOV), "--skip-download", "--quiet", "--framework", "cloudformation",
                          "-o", "json", "-f", str(packaged["out"] / "sam.yaml")],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = json.loads(out.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    failed = {(f["check_id"], f["resource"].split(".", 1)[1]) for f in report["results"]["failed_checks"]}
    skips = load_skips()
    assert failed - skips == set(), "new checkov findings: fix them or list them in infra/checkov-skips.yaml"
    assert skips - failed == set(), "stale entries in infra/checkov-skips.yaml: these checks pass now"


def test_merge_template_is_still_what_the_local_stack_reads():
    """infra/resources.yaml keeps loading with the local stack's loader (anchors, fragments)."""
    from chalicelib.local.resources import load_template

    resources = load_template(Path(ROOT / "infra" / "resources.yaml"))["Resources"]
    assert resources["TrainWorker"].get("Type") is None  # merge fragments are skipped locally
    assert resources["OnCompletion"]["Properties"]["Environment"]["Variables"]["ACTIVELABEL_TASKS_TABLE"] == {
        "Ref": "TasksTable"}
    assert re.match(r"^\$\{AWS::StackName\}-", resources["CompletionStreamFailureQueue"]["Properties"]["QueueName"][
        "Fn::Sub"])
