"""Values between tasks, as Uniflow passes them.

- JSON values (None, bool, int, float, str, list, dict with str keys) travel as they are.
- Values with a codec use Uniflow's tagged form ``{"__codec__": id, "__class__": "module.Name", ...}``:
  ``bytes`` (``{"__codec__": "bytes", "value": base64}``), dataclasses (``"dataclass"``: the class and
  its fields, encoded in turn; the workflow sees them as ``dataclass`` values with attributes), enums
  (``"enum"``: the class and the member's name).
- Anything else (a pandas DataFrame, a numpy array, a model) is written by the runner to the
  references directory (``LARKFLOW_REF_DIR_URL``, file://) as pickle — parquet for DataFrames when
  pyarrow is importable — and passed on as an opaque reference
  ``{"__codec__": "larkflow.ref", "url", "sha256", "format", "type"}``: a workflow can pass it to
  other tasks but not look inside, and the next task receives the original value. Its digest is part
  of the value, so a task's cache key covers the content, not just the URL.
"""

import base64
import dataclasses
import enum
import hashlib
import importlib
import io
import os
import pickle

REF_CODEC = "larkflow.ref"


class CodecError(Exception):
    pass


def _class_path(cls):
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def _load_class(path):
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise CodecError("bad class path %r" % path)
    obj = importlib.import_module(module_name)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def encode(value, refs_url=None):
    """The JSON form of a task's value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v, refs_url) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: encode(v, refs_url) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return {"__codec__": "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, enum.Enum):
        return {"__codec__": "enum", "__class__": _class_path(type(value)), "name": value.name}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"__codec__": "dataclass", "__class__": _class_path(type(value))}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name), refs_url)
        return out
    return _write_ref(value, refs_url)


def _write_ref(value, refs_url):
    type_name = _class_path(type(value))
    if not refs_url:
        raise CodecError(
            "a %s is not JSON and has no codec; passing it between tasks needs a references directory "
            "(LARKFLOW_REF_DIR_URL: local runs have one; not supported yet with remote storage): return JSON, bytes, a dataclass or an enum" % type_name
        )
    if not refs_url.startswith("file://"):
        raise CodecError("not supported yet: references at %s (only file:// references directories)" % refs_url.split("?")[0])
    data, fmt = None, "pickle"
    if type_name.startswith("pandas.") and type(value).__name__ == "DataFrame":
        try:
            import pyarrow  # noqa: F401

            buf = io.BytesIO()
            value.to_parquet(buf)
            data, fmt = buf.getvalue(), "parquet"
        except Exception:
            data = None
    if data is None:
        data = pickle.dumps(value, protocol=4)
    digest = hashlib.sha256(data).hexdigest()
    directory = refs_url[len("file://"):]
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "%s.%s" % (digest, fmt))
    if not os.path.exists(path):
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return {"__codec__": REF_CODEC, "url": "file://" + path, "sha256": digest, "format": fmt, "type": type_name}


def decode(value):
    """The Python value of a JSON argument (tagged values rebuilt, references read back)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    codec = value.get("__codec__")
    if codec is None:
        return {k: decode(v) for k, v in value.items()}
    if codec == "bytes":
        return base64.b64decode(value.get("value", ""))
    if codec == "enum":
        return _load_class(value["__class__"])[value["name"]]
    if codec == "dataclass":
        fields = {k: decode(v) for k, v in value.items() if k not in ("__codec__", "__class__")}
        cls_path = value.get("__class__")
        if not cls_path:
            return fields
        return _load_class(cls_path)(**fields)
    if codec == REF_CODEC:
        return _read_ref(value)
    raise CodecError("unknown codec %r in a task argument" % (codec,))


def _read_ref(ref):
    url = ref.get("url", "")
    if not url.startswith("file://"):
        raise CodecError("not supported yet: reading the reference %s" % url.split("?")[0])
    with open(url[len("file://"):], "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != ref.get("sha256"):
        raise CodecError("the reference %s does not match its sha256 (damaged or replaced)" % url)
    if ref.get("format") == "parquet":
        import pandas

        return pandas.read_parquet(io.BytesIO(data))
    return pickle.loads(data)
