#!/usr/bin/env python3
"""Independent check of `caffe-ts check --dump OUT`: compares every tensor caffe-ts wrote with
BVLC Caffe's expected file, using numpy and the tolerance rule of fixtures/FORMAT.md, without
any caffe-ts code. Usage: compare_dump.py CASES_DIR DUMP_DIR"""
import json
import os
import sys

import numpy as np


def expected_files(case):
    """(expected file, label) pairs that --dump must have written under the same names."""
    kind = case.get("kind", "net")
    if kind == "upgrade":
        return []
    if kind == "solver":
        out = []
        for layer, files in case.get("params_after", {}).items():
            out += [(f, f"param {i} of {layer} after training") for i, f in enumerate(files)]
        return out
    out = [(f, f"forward {b}") for b, f in case.get("forward", {}).items()]
    out += [(f, f"backward {b}") for b, f in case.get("backward", {}).items()]
    for key in ("params_after_forward", "param_diffs"):
        for layer, files in case.get(key, {}).items():
            out += [(f, f"{key} {layer}[{i}]") for i, f in enumerate(files)]
    return out


def main(cases_root, dump_root):
    passed = failed = 0
    for dirpath, _dirs, files in sorted(os.walk(cases_root)):
        if "case.json" not in files:
            continue
        with open(os.path.join(dirpath, "case.json")) as fh:
            case = json.load(fh)
        default = {"abs": 1e-5, "rel": 5e-4} if case.get("kind") == "solver" else {"abs": 1e-5, "rel": 1e-4}
        tol = case.get("tolerance", default)
        # tensor_tolerance: a tensor's own bound where Caffe's BLAS order moves it (FORMAT.md)
        own = case.get("tensor_tolerance", {})
        rel = os.path.relpath(dirpath, cases_root)
        problems = []
        for name, label in expected_files(case):
            got_path = os.path.join(dump_root, rel, name)
            if not os.path.exists(got_path):
                problems.append(f"{label}: {name} not written")
                continue
            exp = np.load(os.path.join(dirpath, name)).astype(np.float64)
            got = np.load(got_path).astype(np.float64)
            if exp.size != got.size:
                problems.append(f"{label}: {got.shape} vs expected {exp.shape}")
                continue
            g, e = got.ravel().astype(np.float64), exp.ravel().astype(np.float64)
            # NaN matches only NaN, an infinity only itself; the relative part uses finite values.
            same = (g == e) | (np.isnan(g) & np.isnan(e))
            diff = np.where(same, 0.0, np.where(np.isfinite(g) & np.isfinite(e), np.abs(g - e), np.inf))
            err = np.max(diff) if exp.size else 0.0
            finite = np.abs(e[np.isfinite(e)])
            t = own.get(name, tol)
            limit = t["abs"] + t["rel"] * (np.max(finite) if finite.size else 0.0)
            if not err <= limit:
                problems.append(f"{label}: max abs error {err:.4g} > {limit:.4g}")
        if case.get("kind") == "solver":
            lpath = os.path.join(dump_root, rel, "losses.json")
            if not os.path.exists(lpath):
                problems.append("losses.json not written")
            else:
                with open(lpath) as fh:
                    losses = json.load(fh)
                for k, (g, e) in enumerate(zip(losses, case["losses"])):
                    if not abs(g - e) <= tol["abs"] + tol["rel"] * abs(e):
                        problems.append(f"loss of step {k}: {g} vs {e}")
                        break
        if problems:
            failed += 1
            print(f"FAIL {case.get('name', rel)}: {problems[0]}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
