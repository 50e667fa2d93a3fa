"""``run``, ``new_callable``, ``batch_run``: in a compiled workflow they are larkflow's durable,
concurrent ones; called from plain Python they run the callables at once, in order."""


class _Future(object):
    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value

    def done(self):
        return True


def run(fn, *args, **kwargs):
    return _Future(fn(*args, **kwargs))


def new_callable(fn, *args, **kwargs):
    return (fn, args, kwargs)


class _BatchFuture(object):
    def __init__(self, futures):
        self._futures = futures

    def get(self):
        return [f.result() for f in self._futures]

    def get_futures(self):
        return list(self._futures)

    def is_ready(self):
        return True


def batch_run(callables, max_concurrency=0):
    return _BatchFuture([run(fn, *a, **kw) for fn, a, kw in callables])
