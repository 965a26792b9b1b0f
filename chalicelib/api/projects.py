"""Projects, their ML settings and the models that fit their label config (services/projects.py)."""
from chalicelib.api.http import created, json_object, page_params, principal
from chalicelib.api.serializers import project_json
from chalicelib.domain.settings import masked
from chalicelib.services import projects


def create_project(request):
    return created(project_json(projects.create(json_object(request))))


def list_projects(request):
    """All projects for a token scoped to all; otherwise only the token's, paged the same way."""
    limit, cursor = page_params(request)
    caller = principal(request)
    page, next_cursor = projects.list_page(None if caller.all_projects else caller.projects, limit, cursor)
    return {"projects": [project_json(p) for p in page], "next": next_cursor}


def get_project(project_id: str):
    return project_json(projects.get(project_id))


def patch_project(request, project_id: str):
    return project_json(projects.patch(project_id, json_object(request)))


def delete_project(project_id: str):
    projects.delete(project_id)
    return {"deleted": project_id}


def get_ml(project_id: str):
    return masked(projects.settings(project_id))


def put_ml(request, project_id: str):
    return masked(projects.put_settings(project_id, json_object(request)))


def list_models(project_id: str):
    return projects.models(project_id)


def labelstudio_connection(request, project_id: str):
    """What to paste into Label Studio's "Connect model" for this project (admin only)."""
    return projects.labelstudio_connection(project_id)
