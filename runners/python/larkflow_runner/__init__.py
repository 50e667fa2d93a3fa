"""larkflow's Python task runner: runs one attempt of a remote task (``python3 -m larkflow_runner``).

Standard library only, Python 3.8+. The protocol (docs/remote.md, "task I/O"):

- ``LARKFLOW_INPUT_URL`` (file:// or http(s) GET): the input document
  ``{"version": 1, "task": "module:function", "args": [...], "kwargs": {...}, "runId", "stepId", "attempt"}``.
- ``LARKFLOW_RESULT_URL`` (file://, written atomically via a temporary file and a rename; or an
  http(s) URL, written with one PUT, e.g. a presigned S3 URL): the result document
  ``{"version": 1, "runId", "stepId", "attempt", "ok": true, "value": ...}`` or
  ``{..., "ok": false, "error": {"kind", "message", "retryable", "details"}}``.
- ``LARKFLOW_CODE_URL`` (optional, file:// or http(s)): a tar.gz code bundle, checked against
  ``LARKFLOW_CODE_SHA256`` when that is set, unpacked into ``LARKFLOW_CODE_DIR`` (default: a new
  temporary directory), which becomes the working directory and the FIRST entry of ``sys.path``, so
  the bundle's modules win over copies in the image. Only regular files and directories are
  unpacked; absolute paths, ``..``, links and special files are refused.

Exit status:
  0  the task returned and its result was written (ok: true)
  1  the task raised (ok: false, kind "task", retryable true, the traceback in details), or its
     value is not JSON (ok: false, kind "task", retryable false)
  2  the task does not exist: no such module or function (ok: false, kind "missing-task", retryable false)
  3  the runner itself failed: the input could not be read, the bundle could not be fetched, was
     damaged or unsafe (an ok: false document of kind "bundle" is written when possible), or the
     result could not be written

The task's own stdout and stderr pass through (they are the job's logs); the runner's messages go
to stderr, prefixed "larkflow-runner:". Integers of any size round-trip exactly.
"""

import hashlib
import importlib
import io
import json
import os
import posixpath
import sys
import tarfile
import tempfile
import time
from . import codecs as _codecs
import traceback
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["main", "EXIT_OK", "EXIT_TASK_FAILED", "EXIT_MISSING_TASK", "EXIT_RUNNER_FAILED"]

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_MISSING_TASK = 2
EXIT_RUNNER_FAILED = 3

INPUT_ENV = "LARKFLOW_INPUT_URL"
RESULT_ENV = "LARKFLOW_RESULT_URL"
CODE_ENV = "LARKFLOW_CODE_URL"
CODE_SHA_ENV = "LARKFLOW_CODE_SHA256"
CODE_DIR_ENV = "LARKFLOW_CODE_DIR"

HTTP_TRIES = 5
HTTP_TIMEOUT = 60
MAX_DETAILS = 64 * 1024


class RunnerError(Exception):
    """A failure of the runner (not of the task)."""

    def __init__(self, message, kind="runner", retryable=False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


def log(message):
    sys.stderr.write("larkflow-runner: %s\n" % message)
    sys.stderr.flush()


# ----------------------------------------------------------------------------------------------
# URLs


def _file_path(url):
    parsed = urllib.parse.urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise RunnerError("cannot use %s: a file:// URL with a host is not supported" % url)
    return urllib.request.url2pathname(parsed.path)


def _redact(url):
    """A URL without its query (presigned signatures stay out of logs)."""
    return url.split("?", 1)[0]


def _transient(e):
    if isinstance(e, urllib.error.HTTPError):
        return e.code >= 500 or e.code in (408, 429)
    return isinstance(e, (urllib.error.URLError, OSError))


def _http(method, url, data=None, headers=None):
    delay = 0.5
    for attempt in range(1, HTTP_TRIES + 1):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
                return resp.read()
        except Exception as e:  # noqa: BLE001 - classified below
            if attempt < HTTP_TRIES and _transient(e):
                log("%s %s failed (%s), trying again in %.1f s" % (method, _redact(url), e, delay))
                time.sleep(delay)
                delay *= 2
                continue
            body = ""
            if isinstance(e, urllib.error.HTTPError):
                try:
                    body = ": " + e.read(2000).decode("utf-8", "replace")
                except Exception:  # noqa: BLE001
                    pass
            raise RunnerError("%s %s failed: %s%s" % (method, _redact(url), e, body), retryable=_transient(e))
    raise AssertionError("unreachable")


def read_url(url):
    """The bytes at a file:// or http(s) URL."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        path = _file_path(url)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise RunnerError("cannot read %s: %s" % (path, e))
    if scheme in ("http", "https"):
        return _http("GET", url)
    raise RunnerError("cannot read %s: expected a file:// or http(s) URL" % _redact(url))


def write_url(url, data):
    """Writes bytes to a file:// URL (atomically) or PUTs them to an http(s) URL."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        path = _file_path(url)
        directory = os.path.dirname(path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as e:
            raise RunnerError("cannot write %s: %s" % (path, e))
        return
    if scheme in ("http", "https"):
        # A presigned S3 PUT signs only the host: Content-Type is not part of the signature.
        _http("PUT", url, data=data, headers={"Content-Type": "application/json"})
        return
    raise RunnerError("cannot write %s: expected a file:// or http(s) URL" % _redact(url))


# ----------------------------------------------------------------------------------------------
# Code bundle


def _safe_member_path(name):
    """The normalised relative path of a member, or a RunnerError if it could escape the target."""
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise RunnerError("unsafe code bundle: absolute path %r" % name, kind="bundle")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise RunnerError("unsafe code bundle: path %r climbs out of the target directory" % name, kind="bundle")
    clean = [p for p in parts if p not in ("", ".")]
    return "/".join(clean)


def unpack_bundle(data, target):
    """Unpacks a tar.gz into target: regular files and directories only, nothing outside target."""
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise RunnerError("the code bundle is not a tar.gz: %s" % e, kind="bundle")
    with archive:
        members = archive.getmembers()
        # Check everything before writing anything.
        for m in members:
            _safe_member_path(m.name)
            if not (m.isfile() or m.isdir()):
                what = "link" if (m.issym() or m.islnk()) else "special file"
                raise RunnerError("unsafe code bundle: %r is a %s (only regular files and directories are allowed)" % (m.name, what), kind="bundle")
        real_target = os.path.realpath(target)
        for m in members:
            rel = _safe_member_path(m.name)
            if rel == "":
                continue
            dest = os.path.join(real_target, *rel.split("/"))
            if m.isdir():
                os.makedirs(dest, exist_ok=True)
                continue
            parent = os.path.dirname(dest)
            os.makedirs(parent, exist_ok=True)
            real_parent = os.path.realpath(parent)
            if real_parent != real_target and not real_parent.startswith(real_target + os.sep):
                raise RunnerError("unsafe code bundle: %r would be written outside the target directory" % m.name, kind="bundle")
            src = archive.extractfile(m)
            if src is None:
                raise RunnerError("the code bundle's entry %r has no content" % m.name, kind="bundle")
            if os.path.islink(dest):
                os.unlink(dest)
            with src, open(dest, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            # Keep only the executable bit; the file's mtime is now, so no stale bytecode is used.
            os.chmod(dest, 0o755 if m.mode & 0o100 else 0o644)


def prepare_code(env):
    """Fetches, checks and unpacks the code bundle if there is one; returns its directory or None."""
    url = env.get(CODE_ENV, "")
    if url == "":
        return None
    try:
        data = read_url(url)
    except RunnerError as e:
        raise RunnerError("cannot fetch the code bundle: %s" % e, kind="bundle", retryable=e.retryable)
    expected = env.get(CODE_SHA_ENV, "").strip().lower()
    if expected:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise RunnerError(
                "the code bundle from %s does not match %s: expected sha256 %s, got %s" % (_redact(url), CODE_SHA_ENV, expected, actual),
                kind="bundle",
            )
    target = env.get(CODE_DIR_ENV, "")
    if target:
        os.makedirs(target, exist_ok=True)
    else:
        target = tempfile.mkdtemp(prefix="larkflow-code-")
    target = os.path.realpath(target)
    unpack_bundle(data, target)
    return target


def use_code_dir(directory):
    """Makes directory the working directory and the first place imports look."""
    os.chdir(directory)
    while directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)
    importlib.invalidate_caches()


# ----------------------------------------------------------------------------------------------
# The task


class MissingTask(Exception):
    pass


def _module_missing(e, module_name):
    """True when a ModuleNotFoundError is about the task's module (or a package above it) itself."""
    missing = getattr(e, "name", None)
    if missing is None:
        return False
    return module_name == missing or module_name.startswith(missing + ".")


def load_task(ref):
    """The function a "module:function" (or "module:Class.method") reference names."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise MissingTask("bad task reference %r: expected \"module:function\"" % (ref,))
    module_name, attr_path = ref.split(":")
    if module_name == "" or attr_path == "":
        raise MissingTask("bad task reference %r: expected \"module:function\"" % (ref,))
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if _module_missing(e, module_name):
            raise MissingTask("no module %r (task %s; sys.path[0] is %r)" % (e.name, ref, sys.path[0] if sys.path else ""))
        raise
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise MissingTask("module %r has no %r (task %s)" % (module_name, attr_path, ref))
        obj = getattr(obj, part)
    if not callable(obj):
        raise MissingTask("%s is not callable (task %s)" % (attr_path, ref))
    return obj


def _error_doc(base, kind, message, retryable, details=None):
    error = {"kind": kind, "message": message, "retryable": retryable}
    if details:
        error["details"] = details[-MAX_DETAILS:]
    doc = dict(base)
    doc["ok"] = False
    doc["error"] = error
    return doc


def _exception_message(e):
    text = str(e)
    return "%s: %s" % (type(e).__name__, text) if text else type(e).__name__


def _dump(doc):
    # ASCII with escapes: a string with a lone surrogate still makes valid JSON.
    return json.dumps(doc, allow_nan=False, ensure_ascii=True).encode("ascii")


def run(env):
    """Runs one attempt; returns the exit status."""
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # ints of any size, both ways

    input_url = env.get(INPUT_ENV, "")
    result_url = env.get(RESULT_ENV, "")
    if input_url == "" or result_url == "":
        log("%s and %s must both be set" % (INPUT_ENV, RESULT_ENV))
        return EXIT_RUNNER_FAILED
    try:
        doc = json.loads(read_url(input_url).decode("utf-8"))
    except (RunnerError, ValueError) as e:
        log("cannot read the input document: %s" % e)
        return EXIT_RUNNER_FAILED
    if not isinstance(doc, dict) or doc.get("version") != 1:
        log("the input document is not a version 1 larkflow input: %r" % (str(doc)[:200],))
        return EXIT_RUNNER_FAILED
    args = doc.get("args", [])
    kwargs = doc.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        log("the input document's args must be a list and its kwargs an object")
        return EXIT_RUNNER_FAILED
    base = {"version": 1, "runId": doc.get("runId"), "stepId": doc.get("stepId"), "attempt": doc.get("attempt")}

    def finish(result_doc, status):
        try:
            write_url(result_url, _dump(result_doc))
        except RunnerError as e:
            log("cannot write the result: %s" % e)
            return EXIT_RUNNER_FAILED
        return status

    try:
        code_dir = prepare_code(env)
    except RunnerError as e:
        log(str(e))
        return finish(_error_doc(base, e.kind, str(e), e.retryable), EXIT_RUNNER_FAILED)
    except OSError as e:
        log("cannot unpack the code bundle: %s" % e)
        return finish(_error_doc(base, "bundle", "cannot unpack the code bundle: %s" % e, True), EXIT_RUNNER_FAILED)
    if code_dir is not None:
        use_code_dir(code_dir)
    elif os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    task = doc.get("task")
    try:
        fn = load_task(task)
    except MissingTask as e:
        log(str(e))
        return finish(_error_doc(base, "missing-task", str(e), False), EXIT_MISSING_TASK)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # an exception while importing the task's module
        details = traceback.format_exc()
        sys.stderr.write(details)
        return finish(_error_doc(base, "task", "importing %s failed: %s" % (task, _exception_message(e)), True, details), EXIT_TASK_FAILED)

    try:
        args = [_codecs.decode(a) for a in args]
        kwargs = {k: _codecs.decode(v) for k, v in kwargs.items()}
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        details = traceback.format_exc()
        sys.stderr.write(details)
        return finish(_error_doc(base, "task", "cannot decode the task's arguments: %s" % _exception_message(e), False, details), EXIT_TASK_FAILED)

    try:
        pre_run(env)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        details = traceback.format_exc()
        sys.stderr.write(details)
        return finish(_error_doc(base, "session", "cannot set up the %s session: %s" % (env.get("LARKFLOW_SESSION"), _exception_message(e)), True, details), EXIT_TASK_FAILED)

    try:
        value = fn(*args, **kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # the task failed (SystemExit too: it must not end the runner silently)
        # The traceback from the task's frame on (the runner's own frame says nothing).
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
        details = "".join(traceback.format_exception(type(e), e, tb))
        sys.stderr.write(details)
        sys.stderr.flush()
        return finish(_error_doc(base, "task", _exception_message(e), True, details), EXIT_TASK_FAILED)

    try:
        value = _codecs.encode(value, env.get("LARKFLOW_REF_DIR_URL"))
    except _codecs.CodecError as e:
        message = "the value %s returned cannot be passed on: %s" % (task, e)
        log(message)
        return finish(_error_doc(base, "task", message, False), EXIT_TASK_FAILED)
    result = dict(base)
    result["ok"] = True
    result["value"] = value
    try:
        data = _dump(result)
    except (TypeError, ValueError, RecursionError) as e:
        message = "the value %s returned is not JSON-serializable: %s" % (task, _exception_message(e))
        log(message)
        return finish(_error_doc(base, "task", message, False), EXIT_TASK_FAILED)
    try:
        write_url(result_url, data)
    except RunnerError as e:
        log("cannot write the result: %s" % e)
        return EXIT_RUNNER_FAILED
    return EXIT_OK


def pre_run(env):
    """Sets up the task's compute session before the call, as Uniflow's ``pre_run`` does.

    ``LARKFLOW_SESSION=ray``: ``ray.init()`` with the job's cluster (``RAY_ADDRESS`` when set, else
    ``"auto"``). ``LARKFLOW_SESSION=spark``: a ``SparkSession`` from the builder (app name
    ``LARKFLOW_SPARK_APP_NAME``), ``LARKFLOW_SPARK_PROPERTIES="k=v,..."`` applied. When the library is
    not importable the task runs as plain Python (a message says so). Returns what it set up, or None.
    """
    session = (env.get("LARKFLOW_SESSION") or "").strip().lower()
    if session == "":
        return None
    if session == "ray":
        try:
            import ray  # noqa: F401  (optional)
        except ImportError:
            log("ray is not importable here: the task runs as plain Python")
            return None
        if not ray.is_initialized():
            ray.init(address=env.get("RAY_ADDRESS") or "auto")
        return "ray"
    if session == "spark":
        try:
            from pyspark.sql import SparkSession  # noqa: F401  (optional)
        except ImportError:
            log("pyspark is not importable here: the task runs as plain Python")
            return None
        builder = SparkSession.builder.appName(env.get("LARKFLOW_SPARK_APP_NAME") or "larkflow-task")
        for pair in (env.get("LARKFLOW_SPARK_PROPERTIES") or "").split(","):
            if "=" in pair:
                key, value = pair.split("=", 1)
                builder = builder.config(key.strip(), value.strip())
        builder.getOrCreate()
        return "spark"
    log("unknown LARKFLOW_SESSION %r: no session set up" % session)
    return None


def main(argv=None):
    status = run(os.environ)
    sys.stdout.flush()
    sys.stderr.flush()
    return status
