"""Links between Label Studio and our records (no new table: ledger items plus one project attribute).

Ledger items (`LedgerModel`, never expiring), each written with a condition so that redelivered or
concurrent requests agree on one answer:
- `pk="ls#link"`, `sk="<credential user>|<LS project>"` -> activelabel project id. `<LS project>` is
  `"<id>.<created_ts>"` as /setup and /predict send it, or `"#<id>"` as webhooks identify projects,
  or `"#last"` (the last project linked with that credential, for `GET /versions`, which names none).
- `pk="ls#task#<project>"`, `sk="<LS task id>"` -> our task id.
- `pk="ls#ann#<project>"`, `sk="<LS annotation id>"` -> our task id (ANNOTATIONS_DELETED names only ids).
The project item's `ls_link` (store/projects.py `save_connection`) holds the Label Studio hostname, the encrypted access token, the
extra params and a keyed fingerprint of them.
"""
import random

from pynamodb.exceptions import DoesNotExist

from chalicelib.store.dynamo import conditional, now
from chalicelib.store.models import LedgerModel, TaskModel

_random = random.SystemRandom()

LINK_PK = "ls#link"


def _get(pk: str, sk: str) -> int | None:
    try:
        return int(LedgerModel.get(pk, sk, consistent_read=True).value)
    except DoesNotExist:
        return None


def _put_if_absent(pk: str, sk: str, value: int) -> int:
    """Store `value` unless the key exists; returns the value that holds afterwards."""
    if conditional(lambda: LedgerModel(pk=pk, sk=sk, value=value).save(condition=LedgerModel.sk.does_not_exist())):
        return value
    return _get(pk, sk)


def find_link(user: str, ls_project: str) -> str | None:
    value = _get(LINK_PK, f"{user}|{ls_project}")
    return None if value is None else str(value)


def claim_link(user: str, ls_project: str, project_id: str) -> str:
    return str(_put_if_absent(LINK_PK, f"{user}|{ls_project}", int(project_id)))


def set_link(user: str, ls_project: str, project_id: str) -> None:
    LedgerModel(pk=LINK_PK, sk=f"{user}|{ls_project}", value=int(project_id)).save()


def find_task_for(project_id: str, ls_task_id: int) -> int | None:
    return _get(f"ls#task#{project_id}", str(ls_task_id))


def claim_task_for(project_id: str, ls_task_id: int, task_id: int) -> int:
    return _put_if_absent(f"ls#task#{project_id}", str(ls_task_id), task_id)


def put_task(project_id: str, task_id: int, data: dict, meta: dict) -> None:
    """Create the task unless it exists."""
    # a random key and the unlabeled pool, like imported tasks: GET /next can serve it, rescoring
    # scores, pre-annotates and auto-labels it; once its completions arrive the stream handler
    # decides its queues, as for any task
    task = TaskModel(project_id=project_id, task_id=task_id, data=data, meta=meta, created_at=now(),
                     random_key=_random.random(), pool_project=project_id)
    conditional(lambda: task.save(condition=TaskModel.task_id.does_not_exist()))


def remember_annotation(project_id: str, ls_annotation_id: int, task_id: int) -> None:
    _put_if_absent(f"ls#ann#{project_id}", str(ls_annotation_id), task_id)


def task_of_annotation(project_id: str, ls_annotation_id: int) -> int | None:
    return _get(f"ls#ann#{project_id}", str(ls_annotation_id))
