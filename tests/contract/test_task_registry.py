"""Task names and what each task takes are stated once, in the manifest schema; the task
modules cover exactly them (vitest checks the browser's registry against the same schema)."""

from __future__ import annotations

from contract.manifest import schema
from contract.tasks import IMAGE_TASKS, TASK_INPUTS, TASKS, TEXT_TASKS


def test_one_module_per_task_of_the_schema_and_one_input_kind_each():
    names = set(schema()["properties"]["task"]["enum"])
    assert set(TASKS) == names == set(TASK_INPUTS)
    assert IMAGE_TASKS | TEXT_TASKS == names and not IMAGE_TASKS & TEXT_TASKS
    for module in TASKS.values():
        assert callable(module.prepare) and callable(module.finish)
