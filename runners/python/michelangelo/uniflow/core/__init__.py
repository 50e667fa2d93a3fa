"""larkflow's stdlib-only shim of ``michelangelo.uniflow.core``.

``@task(...)`` and ``@workflow()`` mark functions for larkflow, which compiles the workflows to
Starlark (``larkflow compile FILE.py`` shows the result) and runs each task function as real Python
through its task runner. When the file is imported by the runner (to call a task) or by plain
Python, a ``TaskFunction`` is a callable that runs the function itself, and
``create_context().run(wf, **kwargs)`` runs the file with ``larkflow run`` (set ``LARKFLOW_CLI`` to
the command, default ``larkflow``).
"""

import os
import subprocess
import sys

__all__ = ["task", "workflow", "create_context", "Context", "TaskFunction", "WorkflowFunction", "RayTask", "SparkTask", "KubernetesTask"]


class _Config(object):
    """A task config: its keyword arguments, as written (larkflow checks them when it compiles the file)."""

    _kind = "Config"

    def __init__(self, **fields):
        self.fields = {k: v for k, v in fields.items() if v is not None}

    def __repr__(self):
        return "%s(%s)" % (self._kind, ", ".join("%s=%r" % kv for kv in sorted(self.fields.items())))

    def __eq__(self, other):
        return type(self) is type(other) and self.fields == other.fields


class RayTask(_Config):
    """``RayTask(head_cpu, head_memory, ..., worker_instances, runtime_env)``: a Ray cluster per attempt."""

    _kind = "RayTask"


class SparkTask(_Config):
    """``SparkTask(driver_cpu, driver_memory, ..., executor_instances)``: a Spark application per attempt."""

    _kind = "SparkTask"


class KubernetesTask(_Config):
    """``KubernetesTask(cpu, memory, gpu, image, ...)``: a Kubernetes Job per attempt."""

    _kind = "KubernetesTask"


class TaskFunction(object):
    """A ``@task`` function: calling it runs the function (in the task runner, or in plain Python)."""

    def __init__(self, fn, options):
        self.fn = fn
        self.options = dict(options)
        self.__name__ = getattr(fn, "__name__", "task")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def with_overrides(self, **options):
        """A copy with some options replaced (``config``, ``retry_attempts``, ``alias``...)."""
        merged = dict(self.options)
        merged.update({k: v for k, v in options.items() if v is not None})
        return TaskFunction(self.fn, merged)

    def __repr__(self):
        return "<task %s>" % self.__name__


class WorkflowFunction(object):
    """A ``@workflow`` function. Its body is compiled to Starlark by larkflow; called from plain Python it runs as Python."""

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = getattr(fn, "__name__", "workflow")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return "<workflow %s>" % self.__name__


def task(fn=None, **options):
    """``@task``, ``@task()`` or ``@task(config=RayTask(...), cache_enabled=True, retry_attempts=2, alias="x")``."""
    if fn is not None and callable(fn) and not options:
        return TaskFunction(fn, {})

    def decorate(f):
        return TaskFunction(f, options)

    return decorate


def workflow(fn=None, **_options):
    """``@workflow()`` (or ``@workflow``)."""
    if fn is not None and callable(fn):
        return WorkflowFunction(fn)

    def decorate(f):
        return WorkflowFunction(f)

    return decorate


class Context(object):
    """``uniflow.create_context()``: ``ctx.environ`` and ``ctx.run(wf, **kwargs)``."""

    def __init__(self):
        self.environ = {}

    def is_local_run(self):
        return "remote-run" not in sys.argv[1:]

    def run(self, wf, *args, **kwargs):
        """Runs the calling file's workflow ``wf`` with larkflow (``larkflow run FILE --workflow NAME k=v ... --env K=V``)."""
        import json

        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        if not path:
            raise RuntimeError("ctx.run: cannot tell which file to run (no __main__.__file__)")
        if args:
            raise TypeError("ctx.run: pass the workflow's inputs as keyword arguments")
        cli = os.environ.get("LARKFLOW_CLI", "larkflow").split()
        argv = cli + ["run", path, "--workflow", getattr(wf, "__name__", str(wf))]
        for k, v in sorted(self.environ.items()):
            argv += ["--env", "%s=%s" % (k, v)]
        if kwargs:
            argv += ["--input", json.dumps(kwargs)]
        rest = sys.argv[1:]
        if rest[:1] == ["remote-run"]:
            # Uniflow's remote run: tasks go where their configs say (--storage-url is --storage here).
            argv += ["--storage" if a == "--storage-url" else a for a in rest[1:]]
        else:
            # A local run: every task as a local Python process, with the engine's retries and cache.
            argv += ["--local"] + [a for a in rest if a != "local-run"]
        try:
            return subprocess.call(argv)
        except OSError as e:
            raise RuntimeError("ctx.run: cannot start %r (is larkflow installed? set LARKFLOW_CLI): %s" % (" ".join(cli), e))


def create_context():
    """A new run context."""
    return Context()
