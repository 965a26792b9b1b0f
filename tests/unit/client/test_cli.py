"""The command-line client without a network: argument parsing, task files, errors and output."""
import json

import pytest
import requests

from activelabel_client import cli, demo
from activelabel_client.client import (
    ActivelabelClient,
    ApiError,
    ModelNotReady,
    version_number,
)
from activelabel_client.datasets import SMS_LABEL_CONFIG, classes_first

# ---------------------------------------------------------------- argument parsing

def parse(*argv):
    return cli.build_parser().parse_args(list(argv))


def test_global_options_default_to_the_environment(monkeypatch):
    monkeypatch.setenv("ACTIVELABEL_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("ACTIVELABEL_TOKEN", "secret")
    args = parse("projects")
    assert (args.url, args.token, args.command) == ("http://127.0.0.1:9999", "secret", "projects")


def test_global_options_fall_back_to_localhost_and_the_admin_token(monkeypatch):
    monkeypatch.delenv("ACTIVELABEL_URL", raising=False)
    monkeypatch.delenv("ACTIVELABEL_TOKEN", raising=False)
    monkeypatch.setenv("ACTIVELABEL_ADMIN_TOKEN", "admin")
    args = parse("--url", "http://127.0.0.1:1", "status", "7")
    assert (args.url, args.token, args.project) == ("http://127.0.0.1:1", "admin", "7")
    assert parse("projects").url == "http://127.0.0.1:8000"


def test_create_project_needs_exactly_one_config_source(capsys):
    args = parse("create-project", "--title", "t", "--sms-demo-config", "--min-completions", "20",
                 "--agreement-threshold", "0.6")
    assert args.sms_demo_config and args.min_completions == 20 and args.agreement_threshold == 0.6
    with pytest.raises(SystemExit) as exc:
        parse("create-project", "--title", "t", "--config", "c.xml", "--sms-demo-config")
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        parse("create-project", "--title", "t")


def test_predict_takes_repeated_texts_or_a_file():
    args = parse("predict", "3", "--text", "a", "--text", "b")
    assert args.text == ["a", "b"] and args.file is None
    assert parse("predict", "3", "--file", "x.json").file == "x.json"
    with pytest.raises(SystemExit):
        parse("predict", "3")


def test_import_export_and_demo_options():
    args = parse("import", "1", "tasks.jsonl", "--text-field", "message", "--batch-size", "50")
    assert (args.project, args.file, args.text_field, args.batch_size) == ("1", "tasks.jsonl", "message", 50)
    assert parse("export", "1", "-o", "out.json").output == "out.json"
    args = parse("demo", "--port", "0", "--exit-after", "--n-tasks", "120", "--n-complete", "30")
    assert (args.port, args.exit_after, args.n_tasks, args.n_complete, args.min_completions) == (0, True, 120, 30, 20)
    assert not args.use_running


def test_demo_rejects_sizes_that_cannot_train():
    assert demo.check_sizes(parse("demo", "--n-complete", "10", "--min-completions", "20"))
    assert demo.check_sizes(parse("demo", "--n-tasks", "40", "--n-complete", "40"))
    assert demo.check_sizes(parse("demo")) is None


# ---------------------------------------------------------------- task files

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_file_of_label_studio_tasks_is_kept_as_is(tmp_path):
    tasks = [{"data": {"text": "hi"}, "annotations": [{"result": []}]}, {"data": {"text": "yo"}, "id": 4}]
    assert cli.read_task_file(write(tmp_path, "t.json", json.dumps(tasks))) == tasks


def test_json_file_variants_tasks_key_single_task_and_bare_data(tmp_path):
    assert cli.read_task_file(write(tmp_path, "a.json", '{"tasks": [{"data": {"text": "x"}}]}')) == \
        [{"data": {"text": "x"}}]
    assert cli.read_task_file(write(tmp_path, "b.json", '{"data": {"text": "x"}}')) == [{"data": {"text": "x"}}]
    assert cli.read_task_file(write(tmp_path, "c.json", '[{"text": "x"}, "plain"]')) == \
        [{"data": {"text": "x"}}, {"data": {"text": "plain"}}]


def test_jsonl_lines_are_data_objects_tasks_or_strings(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"text": "a", "label": "ham"}\n\n{"data": {"text": "b"}}\n"c"\n')
    assert cli.read_task_file(path) == [
        {"data": {"text": "a", "label": "ham"}}, {"data": {"text": "b"}}, {"data": {"text": "c"}}]


def test_text_field_is_copied_to_the_config_variable(tmp_path):
    path = write(tmp_path, "t.jsonl", '{"message": "a"}\n{"data": {"message": "b"}}\n')
    tasks = cli.read_task_file(path, text_field="message", data_key="sms")
    assert [t["data"]["sms"] for t in tasks] == ["a", "b"]


def test_task_file_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(cli.TaskFileError, match=r"t\.jsonl line 2: not valid JSON"):
        cli.read_task_file(write(tmp_path, "t.jsonl", '{"text": "a"}\n{oops\n'))
    with pytest.raises(cli.TaskFileError, match=r"line 1: no field 'message'"):
        cli.read_task_file(write(tmp_path, "u.jsonl", '{"text": "a"}\n'), text_field="message")
    with pytest.raises(cli.TaskFileError, match="not valid JSON"):
        cli.read_task_file(write(tmp_path, "v.json", "[1,"))
    with pytest.raises(cli.TaskFileError, match="expected a task or data object, got int"):
        cli.read_task_file(write(tmp_path, "w.json", "[1]"))
    with pytest.raises(cli.TaskFileError, match="no tasks"):
        cli.read_task_file(write(tmp_path, "x.jsonl", "\n"))
    with pytest.raises(cli.TaskFileError, match="missing.json"):
        cli.read_task_file(tmp_path / "missing.json")


def test_shipped_sms_data_reads_as_tasks():
    from activelabel_client.datasets import DATA_DIR

    tasks = cli.read_task_file(DATA_DIR / "sms_spam" / "data.jsonl")
    assert len(tasks) > 5000 and set(tasks[0]["data"]) == {"text", "label"}


def test_text_variable_comes_from_the_label_config():
    assert cli.text_variable(SMS_LABEL_CONFIG) == "text"
    assert cli.text_variable('<View><Text name="t" value="$review"/></View>') == "review"
    assert cli.text_variable("<View/>") == "text"


# ---------------------------------------------------------------- errors and output

def response(status, body, content_type="application/json"):
    answer = requests.Response()
    answer.status_code = status
    answer._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    answer.headers["Content-Type"] = content_type
    answer.reason = "Reason"
    return answer


def test_api_error_is_built_from_the_chalice_error_body():
    error = ApiError.from_response(response(409, {"Code": "ConflictError", "Message": "no model yet",
                                                  "Field": "model_version"}))
    assert (error.status, error.code, error.message, error.field) == (409, "ConflictError", "no model yet",
                                                                      "model_version")
    assert cli.format_error(error) == "error: no model yet (HTTP 409 ConflictError)"


def test_api_error_without_a_json_body_keeps_the_text():
    error = ApiError.from_response(response(502, "Bad gateway", "text/plain"))
    assert (error.status, error.code, error.message) == (502, "HTTPError", "Bad gateway")
    assert cli.format_error(ApiError(0, "ConnectionError", "cannot reach x")) == "error: cannot reach x"


def test_main_prints_the_api_message_and_exits_1(monkeypatch, capsys):
    def failing(self, method, path, body=None, params=None):
        raise ApiError(404, "NotFoundError", "project '9' not found", "project_id")

    monkeypatch.setattr(ActivelabelClient, "request", failing)
    assert cli.main(["--token", "t", "status", "9"]) == 1
    assert "error: project '9' not found (HTTP 404 NotFoundError)" in capsys.readouterr().err


def test_main_reports_an_unreadable_task_file_with_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ActivelabelClient, "request", lambda *a, **k: pytest.fail("no call expected"))
    assert cli.main(["--token", "t", "import", "1", str(write(tmp_path, "t.jsonl", "{bad\n"))]) == 2
    assert "t.jsonl line 1" in capsys.readouterr().err


def test_predict_prints_label_and_score_per_input(monkeypatch, capsys):
    calls = []

    def fake(self, method, path, body=None, params=None):
        calls.append((method, path, body))
        if method == "GET":
            return {"id": "1", "label_config": SMS_LABEL_CONFIG}
        return {"results": [
            {"result": [{"value": {"choices": ["spam"]}}], "score": 0.91, "model_version": "v2"},
            {"result": [{"value": {"choices": ["ham"]}}], "score": 0.8, "model_version": "v2"}]}

    monkeypatch.setattr(ActivelabelClient, "request", fake)
    assert cli.main(["--token", "t", "predict", "1", "--text", "WIN now", "--text", "lunch?"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert calls[-1] == ("POST", "/api/projects/1/predict",
                         {"tasks": [{"data": {"text": "WIN now"}}, {"data": {"text": "lunch?"}}]})
    assert out[2].split() == ["spam", "0.910", "WIN", "now"] and out[3].split() == ["ham", "0.800", "lunch?"]
    assert out[-1] == "(model v2)"


def test_status_rows_show_state_counters_version_and_metrics():
    rows = dict(cli.status_rows(
        {"id": "1", "title": "sms", "task_count": 300, "ml": {"min_completions": 20}},
        {"state": "idle", "accepted_tasks": 25, "completions": 26, "model_version": "v1", "last_error": None,
         "min_completions": 20},
        {"model": "text_classifier", "created_at": "2026-01-01T00:00:00Z", "n_train": 25,
         "metrics": {"accuracy": 0.92, "macro_f1": 0.88, "method": "cross-validation-5-fold", "n_eval": 25}}))
    assert rows["training state"] == "idle" and rows["accepted tasks"] == "25 (min_completions 20)"
    assert rows["model version"] == "v1" and rows["accuracy"] == "0.920" and rows["macro-F1"] == "0.880"
    assert rows["evaluation"] == "cross-validation-5-fold (n_eval 25)" and rows["last error"] == "-"
    no_model = dict(cli.status_rows({"id": "2"}, {"state": "failed", "last_error": "need 2 labels"}, None))
    assert no_model["model version"] == "- (none yet)" and no_model["last error"] == "need 2 labels"
    assert "accuracy" not in no_model


def test_format_table_aligns_columns():
    assert cli.format_table([("1", "ab"), ("22", None)], ["id", "x"]).splitlines() == [
        "id  x", "--  --", "1   ab", "22  -"]


# ---------------------------------------------------------------- client helpers

def test_version_numbers():
    assert version_number("v12") == 12 and version_number(None) is None and version_number("x") is None


def test_wait_for_model_waits_for_the_version_and_settling(monkeypatch):
    states = iter([
        {"state": "queued", "model_version": None, "request_seq": 1, "trained_seq": 0},
        {"state": "idle", "model_version": "v1", "request_seq": 2, "trained_seq": 1},
        {"state": "idle", "model_version": "v2", "request_seq": 2, "trained_seq": 2},
    ])
    api = ActivelabelClient("http://127.0.0.1:1", "t")
    monkeypatch.setattr(api, "training", lambda project_id: next(states))
    seen = []
    state = api.wait_for_model("1", timeout=5, settled=True, poll_interval=0, on_state=seen.append)
    assert state["model_version"] == "v2" and len(seen) == 3


def test_wait_for_model_raises_with_the_last_error(monkeypatch):
    failed = {"state": "failed", "model_version": None, "last_error": "need at least 2 distinct labels",
              "request_seq": 1, "trained_seq": 1, "accepted_tasks": 20}
    api = ActivelabelClient("http://127.0.0.1:1", "t")
    monkeypatch.setattr(api, "training", lambda project_id: failed)
    with pytest.raises(ModelNotReady, match="need at least 2 distinct labels") as exc:
        api.wait_for_model("1", timeout=5, poll_interval=0, failure_grace=0)
    assert exc.value.state["accepted_tasks"] == 20
    with pytest.raises(ModelNotReady, match="after 0 s"):
        monkeypatch.setattr(api, "training", lambda project_id: {**failed, "state": "queued", "request_seq": 2})
        api.wait_for_model("1", timeout=0, poll_interval=0)


def test_predict_needs_tasks_or_samples_and_chunks(monkeypatch):
    api = ActivelabelClient("http://127.0.0.1:1", "t")
    sent = []
    monkeypatch.setattr(api, "request", lambda method, path, body=None, params=None: (
        sent.append(body) or {"results": [{"n": i} for i in range(len(body["samples"]))]}))
    assert len(api.predict("1", samples=[{"text": str(i)} for i in range(5)], batch_size=2)) == 5
    assert [len(b["samples"]) for b in sent] == [2, 2, 1]
    with pytest.raises(ValueError):
        api.predict("1")


def test_import_tasks_chunks_and_keeps_order(monkeypatch):
    api = ActivelabelClient("http://127.0.0.1:1", "t")
    counter = iter(range(1, 100))
    keys = []
    monkeypatch.setattr(api, "request", lambda method, path, body=None, params=None, headers=None: (
        keys.append(headers["Idempotency-Key"]) or {"task_ids": [str(next(counter)) for _ in body]}))
    assert api.import_tasks("1", [{"data": {"text": "x"}}] * 7, batch_size=3, progress=False) == \
        [str(i) for i in range(1, 8)]
    assert len(set(keys)) == 3  # one key per chunk


def test_an_import_chunk_is_resent_with_its_key_until_it_lands(monkeypatch):
    from activelabel_client.client import ApiError

    api = ActivelabelClient("http://127.0.0.1:1", "t")
    monkeypatch.setattr("activelabel_client.client.time.sleep", lambda s: None)
    answers = iter([ApiError(0, "ConnectionError", "down"), ApiError(503, "ImportIncompleteError", "part-way"),
                    ApiError(409, "ConflictError", "writing", "Idempotency-Key"), {"task_ids": ["1", "2"]}])
    keys = []

    def request(method, path, body=None, params=None, headers=None):
        keys.append(headers["Idempotency-Key"])
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(api, "request", request)
    assert api.import_tasks("1", [{"data": {"text": "x"}}] * 2, progress=False) == ["1", "2"]
    assert len(keys) == 4 and len(set(keys)) == 1
    monkeypatch.setattr(api, "request", lambda *a, **k: (_ for _ in ()).throw(ApiError(400, "BadRequestError", "no")))
    with pytest.raises(ApiError, match="400"):
        api.import_tasks("1", [{"data": {"text": "x"}}], progress=False)


def test_classes_first_puts_every_label_early():
    rows = [{"label": "ham"}] * 10 + [{"label": "spam"}] * 2
    order = classes_first(rows, per_class=3)
    assert sorted(order) == list(range(12))
    assert [rows[i]["label"] for i in order[:5]] == ["ham", "spam", "ham", "spam", "ham"]


# ---------------------------------------------------------------- jobs, versions, rollback

def test_jobs_follows_a_running_job_until_it_finishes(monkeypatch, capsys):
    base = {"id": "preannotation-v2-1", "kind": "preannotation", "total": 60, "failed": 0, "started": "t0",
            "finished": None, "error": None}
    polls = iter([{**base, "state": "running", "done": 20}, {**base, "state": "running", "done": 40},
                  {**base, "state": "succeeded", "done": 60, "finished": "t1", "predictions_stored": 50}])
    calls = []

    def fake(self, method, path, body=None, params=None):
        calls.append((method, path))
        if path.endswith("/jobs"):
            return {"jobs": [{**base, "state": "running", "done": 0},
                             {**base, "id": "training-1", "kind": "training", "state": "succeeded", "total": 1,
                              "done": 1}]}
        return next(polls)

    monkeypatch.setattr(ActivelabelClient, "request", fake)
    monkeypatch.setattr(cli.time, "sleep", lambda s: None)
    assert cli.main(["--url", "http://127.0.0.1:1", "jobs", "4", "--no-progress"]) == 0
    assert calls == [("GET", "/api/projects/4/jobs")] + [("GET", "/api/projects/4/jobs/preannotation-v2-1")] * 3
    out = capsys.readouterr().out
    assert "succeeded  60/60" in out and "training-1" in out and "running" not in out


def test_versions_and_rollback(monkeypatch, capsys):
    def fake(self, method, path, body=None, params=None):
        if method == "PUT":
            assert path == "/api/projects/4/model-versions/v1/active" and body == {"pin": True}
            return {"model_version": "v1", "previous": "v3", "pinned_version": 1,
                    "preannotation_job": "preannotation-v1-a2"}
        return {"versions": [
            {"model_version": "v2", "status": "rejected", "active": False, "n_train": 80, "metrics": {"accuracy": 0.7},
             "decision": {"reason": "worse by more than the tolerance"}},
            {"model_version": "v1", "status": "promoted", "active": True, "n_train": 80, "metrics": {}}]}

    monkeypatch.setattr(ActivelabelClient, "request", fake)
    assert cli.main(["--url", "http://127.0.0.1:1", "versions", "4"]) == 0
    out = capsys.readouterr().out
    assert "rejected" in out and "worse by more than the tolerance" in out
    assert out.splitlines()[3].startswith("*")
    assert cli.main(["--url", "http://127.0.0.1:1", "rollback", "4", "1", "--pin"]) == 0
    out = capsys.readouterr().out
    assert "v1 is active (was v3); pinned to v1" in out and "job preannotation-v1-a2 started" in out
