"""``time``, ``sleep``, ``utc_format_seconds``: durable and recorded in a compiled workflow; the
host's clock in plain Python."""

import time as _time


def time():
    return _time.time()


def sleep(seconds):
    _time.sleep(seconds)


def utc_format_seconds(fmt, seconds):
    return _time.strftime(fmt, _time.gmtime(seconds))
