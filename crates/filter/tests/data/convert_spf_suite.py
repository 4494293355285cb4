#!/usr/bin/env python3
"""Converts the RFC 7208 SPF test suite (openspf/pyspf, YAML) into the JSON
that crates/filter/tests/spf_suite.rs reads, so the Rust test needs neither a
YAML parser nor the shared vectors directory at test time.

Usage (from the repository root):

    python3 crates/filter/tests/data/convert_spf_suite.py \
        /work/shared/vectors/spf/rfc7208-tests.yml \
        crates/filter/tests/data/rfc7208-tests.json

Needs only the standard library and PyYAML. The data is kept as the YAML
has it (one object per YAML document, tests and zonedata as maps, zone
records in their order, "TIMEOUT" and "NONE" markers untouched); the test
driver gives them their meaning. Two normalizations only:

* `spec` is always a string (YAML reads "spec: 3.3" as a float);
* test names must be unique across the whole file (pyspf keys them so).

The suite is (C) its authors, see rfc7208-tests.LICENSE next to this file.
"""

import json
import sys

import yaml


def convert(yaml_path):
    scenarios = []
    seen = set()
    with open(yaml_path, "rb") as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            tests = {}
            for name, test in doc["tests"].items():
                if name in seen:
                    raise SystemExit(f"duplicate test name {name!r}")
                seen.add(name)
                test = dict(test)
                if "spec" in test:
                    test["spec"] = str(test["spec"])
                tests[name] = test
            scenarios.append(
                {
                    "description": doc.get("description", ""),
                    "tests": tests,
                    "zonedata": doc.get("zonedata") or {},
                }
            )
    return {
        "source": "rfc7208-tests.yml, openspf.org test suite release 2014.04 (RFC 7208)",
        "license": "see rfc7208-tests.LICENSE; (C) 2006-2008 Stuart D Gathman, 2007-2008 Julian Mehnle, "
        "2014 Scott Kitterman",
        "generated_by": "crates/filter/tests/data/convert_spf_suite.py",
        "scenarios": scenarios,
    }


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert_spf_suite.py rfc7208-tests.yml rfc7208-tests.json")
    data = convert(sys.argv[1])
    with open(sys.argv[2], "w", encoding="ascii") as out:
        json.dump(data, out, indent=1, ensure_ascii=True)
        out.write("\n")


if __name__ == "__main__":
    main()
