"""activelabel: routes and event decorators only. The logic lives in chalicelib/ (see README.md)."""
from chalice import Chalice, Rate

from chalicelib import config
from chalicelib.api import auth, health as health_view, http, jobs, next_task, openapi, predict, projects, report, tasks, tokens, training
from chalicelib.console import static as console
from chalicelib.events import completion_stream, rescoring, schedule, training_job
from chalicelib.labelstudio import auth as ls_auth
from chalicelib.labelstudio import server as ls
from chalicelib.telemetry import logs

logs.configure_for_lambda()  # JSON lines on stdout in a deployed function (chalicelib/telemetry)
app = Chalice(app_name="activelabel", configure_logs=False)  # not Chalice's text handler at level ERROR
# app.route + token check (/api/) or Basic auth (/ls/) + error bodies
route = http.route_factory(app, auth.authenticate, ls_auth.authenticate)


@route("/health")
def health():
    return {"status": "UP", "service": "activelabel"}


@route("/api/health/detail", methods=["GET"])
def health_detail():
    """Queue depths, dead letters and the last failures of the projects' jobs (admin)."""
    return health_view.detail(app.current_request)


# ---- the web console (static files; the page calls the API below with the user's token)
@route("/ui", methods=["GET"])
def console_index():
    return console.index(app.current_request)


@route("/ui/{asset}", methods=["GET"])
def console_asset(asset):
    return console.asset(asset, app.current_request)


@route("/api/openapi.json")
def openapi_document():
    return openapi.document(app)


# ---- API tokens
@route("/api/tokens", methods=["POST"])
def create_token():
    return tokens.create_token(app.current_request)


@route("/api/tokens", methods=["GET"])
def list_tokens():
    return tokens.list_tokens(app.current_request)


@route("/api/tokens/{token_id}", methods=["DELETE"])
def revoke_token(token_id):
    return tokens.revoke_token(app.current_request, token_id)


# ---- projects and settings
@route("/api/projects", methods=["POST"])
def create_project():
    return projects.create_project(app.current_request)


@route("/api/projects", methods=["GET"])
def list_projects():
    return projects.list_projects(app.current_request)


@route("/api/projects/{project_id}", methods=["GET"])
def get_project(project_id):
    return projects.get_project(project_id)


@route("/api/projects/{project_id}", methods=["PATCH"])
def patch_project(project_id):
    return projects.patch_project(app.current_request, project_id)


@route("/api/projects/{project_id}", methods=["DELETE"])
def delete_project(project_id):
    return projects.delete_project(project_id)


@route("/api/projects/{project_id}/models", methods=["GET"])
def list_models(project_id):
    return projects.list_models(project_id)


@route("/api/projects/{project_id}/ml", methods=["GET"])
def get_ml(project_id):
    return projects.get_ml(project_id)


@route("/api/projects/{project_id}/ml", methods=["PUT"])
def put_ml(project_id):
    return projects.put_ml(app.current_request, project_id)


# ---- tasks and completions
@route("/api/projects/{project_id}/tasks", methods=["POST"])
def import_tasks(project_id):
    return tasks.import_tasks(app.current_request, project_id)


@route("/api/projects/{project_id}/imports/{key}", methods=["GET"])
def get_import(project_id, key):
    return tasks.get_import(project_id, key)


@route("/api/projects/{project_id}/tasks", methods=["GET"])
def list_tasks(project_id):
    return tasks.list_tasks(app.current_request, project_id)


@route("/api/projects/{project_id}/tasks/{task_id}", methods=["GET"])
def get_task(project_id, task_id):
    return tasks.get_task(project_id, task_id)


@route("/api/projects/{project_id}/tasks/{task_id}/completions", methods=["POST"])
def create_completion(project_id, task_id):
    return tasks.create_completion(app.current_request, project_id, task_id)


@route("/api/projects/{project_id}/tasks/{task_id}/completions", methods=["GET"])
def list_completions(project_id, task_id):
    return tasks.list_completions(project_id, task_id)


@route("/api/projects/{project_id}/completions/{completion_id}", methods=["DELETE"])
def delete_completion(project_id, completion_id):
    return tasks.delete_completion(app.current_request, project_id, completion_id)


@route("/api/projects/{project_id}/next", methods=["GET"])
def next_task_route(project_id):
    return next_task.next_task(app.current_request, project_id)


@route("/api/projects/{project_id}/tasks/{task_id}/lock", methods=["DELETE"])
def release_task_lock(project_id, task_id):
    """Give a task served by next back (skip it) before its lock expires."""
    return next_task.release(app.current_request, project_id, task_id)


@route("/api/projects/{project_id}/export", methods=["GET"])
def export(project_id):
    return tasks.export(app.current_request, project_id)


@route("/api/projects/{project_id}/suspects", methods=["GET"])
def list_suspects(project_id):
    """Human labels the model confidently contradicts (ml.suspects), least likely first."""
    return tasks.list_suspects(app.current_request, project_id)


# ---- training, models, predictions
@route("/api/projects/{project_id}/training", methods=["GET"])
def get_training(project_id):
    return training.get_training(project_id)


@route("/api/projects/{project_id}/train", methods=["POST"])
def train(project_id):
    return training.request_training(project_id)


@route("/api/projects/{project_id}/model-versions", methods=["GET"])
def list_model_versions(project_id):
    return training.list_model_versions(project_id)


@route("/api/projects/{project_id}/model-versions/{version}/active", methods=["PUT"])
def activate_model_version(project_id, version):
    return training.activate_model_version(app.current_request, project_id, version)


@route("/api/projects/{project_id}/predictions", methods=["POST"])
def start_preannotation(project_id):
    return jobs.start_preannotation(project_id)


@route("/api/projects/{project_id}/jobs", methods=["GET"])
def list_jobs(project_id):
    return jobs.list_jobs(project_id)


@route("/api/projects/{project_id}/jobs/{job_id}", methods=["GET"])
def get_job(project_id, job_id):
    return jobs.get_job(project_id, job_id)


@route("/api/projects/{project_id}/report", methods=["GET"])
def report_route(project_id):
    return report.report(project_id)


@route("/api/projects/{project_id}/report.png", methods=["GET"])
def report_png_route(project_id):
    """The label-savings report as a learning-curve PNG (send Accept: image/png)."""
    return report.report_png(project_id)


@route("/api/projects/{project_id}/predict", methods=["POST"])
def predict_route(project_id):
    return predict.predict(app.current_request, project_id)


@route("/api/projects/{project_id}/labelstudio", methods=["GET"])
def labelstudio_connection(project_id):
    return projects.labelstudio_connection(app.current_request, project_id)


# ---- Label Studio ML backend (Basic auth; see chalicelib/labelstudio/server.py)
def _connection():
    return app.current_request.context["connection"]


@route("/ls", methods=["GET"])
def ls_index():
    return ls.health()


@route("/ls/health", methods=["GET"])
def ls_health():
    return ls.health()


@route("/ls/setup", methods=["POST"])
def ls_setup():
    return ls.setup(http.json_object(app.current_request), _connection())


@route("/ls/predict", methods=["POST"])
def ls_predict():
    return ls.predict(http.json_object(app.current_request), _connection())


@route("/ls/webhook", methods=["POST"])
def ls_webhook():
    body, status = ls.webhook(http.json_object(app.current_request), _connection())
    return http.with_status(body, status)


@route("/ls/train", methods=["POST"])
def ls_train():
    return http.created(ls.train(http.json_object(app.current_request), _connection()))


@route("/ls/versions", methods=["GET"])
def ls_versions():
    return ls.versions(http.query_param(app.current_request, "project"), _connection())


# ---- event sources
@app.on_dynamodb_record(stream_arn=config.completions_stream_arn(), batch_size=100,
                        starting_position="TRIM_HORIZON", name="on_completion")
def on_completion(event):
    return completion_stream.handle_stream_batch(event)


@app.on_sqs_message(queue=config.train_queue_name(), batch_size=1, name="train_worker")
def train_worker(event):
    return training_job.handle_train_batch(event)


@app.on_sqs_message(queue=config.rescore_queue_name(), batch_size=1, name="rescore_worker")
def rescore_worker(event):
    return rescoring.handle_rescore_batch(event)


@app.schedule(Rate(1, unit=Rate.HOURS), name="retrain_schedule")
def retrain_schedule(event):
    return schedule.run_schedule(event.context)
