# CPython version of json.star (the runner prefers NAME.py over NAME.star). Starlark's json module is
# shimmed over the standard library: compact separators as in Starlark, and sorted keys because
# Starlark's json.encode sorts object keys (the program inserts keys in sorted order anyway).
# Everything below the shim is identical to json.star.
import sys

# This file is itself named json.py, and a script's own directory comes first on sys.path, so drop
# it before importing the standard library's json.
sys.path = sys.path[1:]
import json as _j  # noqa: E402


class json:
    encode = staticmethod(lambda v: _j.dumps(v, separators=(",", ":"), sort_keys=True))
    decode = staticmethod(_j.loads)


ROUNDS = 2000

def main():
    total = 0
    for r in range(ROUNDS):
        items = []
        for i in range(40):
            items.append({
                "id": i + r,
                "name": "item%d" % i,
                "nested": {"a": i * 3, "b": [i, i + 1, None], "c": "x%d" % (i % 7)},
                "ok": i % 2 == 0,
                "tags": ["t%d" % (i % 5), "x"],
            })
        doc = {"count": len(items), "items": items, "round": r}
        s = json.encode(doc)
        back = json.decode(s)
        total += len(s) + back["count"] + back["items"][7]["nested"]["a"] + back["round"]
        if back["items"][3]["ok"]:
            total += 1
        if back["items"][4]["nested"]["b"][2] == None:
            total += 2
        s2 = json.encode(back)
        if s2 == s:
            total += 5
        total = total % 1000003
    return total

print(main())
