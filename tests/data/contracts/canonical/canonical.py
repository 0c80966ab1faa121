#!/usr/bin/env python3
"""Canonical form and digest of a farfan-contract/1 contract, written from
proto/contracts.md ("Canonical form and digest") independently of the C
code. Input: a *valid* contract file (this script does not validate).
Prints the canonical text to stdout and "sha256:<hex>" to stderr; with -w,
writes <name>.canonical.json and <name>.digest next to this script (the
golden files tests/test_contracts.c compares the C output with)."""
import hashlib
import json
import os
import sys

FLAGS = ["IGNORECASE", "MULTILINE", "DOTALL", "LITERAL"]


def extensions(obj):
    return {k: v for k, v in obj.items() if k.startswith("x-") or k.startswith("_")}


def normalise(c):
    inputs = c.get("inputs", {})
    out = extensions(c)
    out.update({
        "format": "farfan-contract/1",
        "id": c["id"],
        "version": c["version"],
        "status": c.get("status", "ACTIVE"),
        "type": c["type"],
        "identity": c.get("identity", {}),
        "applicable_phases": sorted(c["applicable_phases"]),
        "inputs": {**extensions(inputs),
                   "document": inputs.get("document", False),
                   "contracts": inputs.get("contracts", [])},
        "patterns": [{**extensions(p),
                      "id": p["id"],
                      "regex": p["regex"],
                      "flags": [f for f in FLAGS if f in p.get("flags", [])],
                      "element_type": p["element_type"],
                      "weight": float(p.get("weight", 1.0))}
                     for p in c.get("patterns", [])],
        "expected_elements": [{**extensions(e),
                               "type": e["type"],
                               "minimum": e.get("minimum", 0),
                               "required": e.get("required", False)}
                              for e in c.get("expected_elements", [])],
        "methods": [{**extensions(m), "method": m["method"], "params": m.get("params", {})}
                    for m in c["methods"]],
        "scoring": c.get("scoring", {}),
        "timeout_ms": c.get("timeout_ms", 30000),
    })
    return out


def canonical(contract):
    return json.dumps(normalise(contract), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


if __name__ == "__main__":
    path = [a for a in sys.argv[1:] if a != "-w"][0]
    with open(path, encoding="utf-8") as f:
        text = canonical(json.load(f))
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    if "-w" in sys.argv:
        here = os.path.dirname(os.path.abspath(__file__))
        name = os.path.splitext(os.path.basename(path))[0]
        with open(os.path.join(here, name + ".canonical.json"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(here, name + ".digest"), "w") as f:
            f.write(digest + "\n")
    print(text)
    print(digest, file=sys.stderr)
