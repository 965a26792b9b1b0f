"""The rescoring planner (domain/rescoring_plan.py): what each task of a chunk gets, without I/O."""
from chalicelib.domain.records import Task
from chalicelib.domain.rescoring_plan import AutoPolicy, Rank, Reading, Work, epoch, plan, select


def task(task_id, **fields):
    return Task(project_id="p", task_id=task_id, **fields)


POOL = dict(pool_project="p", random_key=0.5)
YES = Reading(0.95, [{"value": {"choices": ["yes"]}}], ["yes"])
UNSURE = Reading(0.55, [{"value": {"choices": ["no"]}}], ["no"])


def test_a_promotion_pass_scores_predicts_and_judges_each_task_in_one_update():
    tasks = [task(1, **POOL), task(2, **POOL), task(3, completion_seq=2, accepted_project="p")]
    work = Work(3, score=True, predict=True, judge=True)
    selection = select(tasks, {1, 2}, work, auto_configured=True)
    assert [t.task_id for t in selection.encoded] == [1, 2]  # the labelled task is not read by the model
    policy = AutoPolicy(closed=False, threshold=0.9, standing={3: 0.9}, audit_rate=0.0, control="c")
    updates = plan(selection, work, ranks=[Rank(0.1, 4), Rank(0.7)], served=[YES, UNSURE], judge=[YES, UNSURE],
                   policy=policy)
    first, second = updates
    assert first.rank == Rank(0.1, 4) and first.prediction["cluster"] == 4 and first.auto["answer"] == ["yes"]
    assert first.auto["model_version"] == "v3" and not first.withdraw and first.epoch == epoch(0, 3)
    assert second.prediction == {"result": UNSURE.result, "score": 0.55, "model_version": "v3"}
    assert second.auto is None and not second.withdraw


def test_the_judge_readings_are_a_separate_input_from_the_served_ones():
    tasks = [task(1, **POOL)]
    work = Work(2, predict=True, judge=True)
    selection = select(tasks, {1}, work, auto_configured=True)
    policy = AutoPolicy(closed=False, threshold=0.9, standing={2: 0.9}, control="c")
    [update] = plan(selection, work, served=[UNSURE], judge=[YES], policy=policy)
    assert update.prediction["result"] == UNSURE.result and update.auto["result"] == YES.result


def test_auto_labels_standing_are_kept_withdrawn_or_left_by_the_rules():
    held = dict(auto_project="p", auto_version=1, auto_label={"answer": ["yes"], "score": 0.97})
    tasks = [task(1, **held), task(2, **held), task(3, **held, auto_epoch=epoch(1, 5))]
    work = Work(2, judge=True)
    selection = select(tasks, set(), work)
    assert len(selection.judged) == 3
    # a version that cannot show the target keeps the labels it agrees with, whose version still stands
    cannot = AutoPolicy(closed=False, threshold=None, standing={1: 0.9}, control="c")
    updates = plan(selection, work, served=[YES, UNSURE, UNSURE], judge=[YES, UNSURE, UNSURE], policy=cannot)
    assert [(u.task_id, u.withdraw) for u in updates] == [(2, True)]  # task 3: a later epoch wrote it
    # closed: every auto label is withdrawn (but one written in a later epoch)
    closed = AutoPolicy(closed=True, threshold=None)
    updates = plan(selection, work, served=[YES] * 3, judge=[YES] * 3, policy=closed)
    assert [(u.task_id, u.withdraw) for u in updates] == [(1, True), (2, True)]


def test_a_newer_versions_score_and_a_started_task_are_left_alone():
    tasks = [task(1, **POOL, score_version=5), task(2, **POOL, completion_seq=1)]
    work = Work(4, score=True, predict=True)
    selection = select(tasks, {1, 2}, work)
    updates = plan(selection, work, ranks=[Rank(0.2), Rank(0.3)], served=[YES, YES])
    assert [(u.task_id, u.rank, u.prediction is not None) for u in updates] == [(1, None, True), (2, Rank(0.3), False)]
