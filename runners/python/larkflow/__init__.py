"""larkflow's Python module: the decorators and task configs a workflow file uses.

A workflow file imports these (``from larkflow import task, workflow, RayTask``) or Uniflow's
spellings (``import michelangelo.uniflow.core as uniflow``). larkflow compiles the file's
``@workflow`` functions to Starlark and runs them in its durable engine; each ``@task`` function runs
as real Python (``python3 -m larkflow_runner``). Imported here, outside larkflow, the decorators
return callables that run the function directly, and ``create_context().run(wf, **kwargs)`` hands
the file to ``larkflow run``.
"""

from michelangelo.uniflow.core import (  # noqa: F401  (re-exported)
    Context,
    KubernetesTask,
    RayTask,
    SparkTask,
    TaskFunction,
    WorkflowFunction,
    create_context,
    task,
    workflow,
)
