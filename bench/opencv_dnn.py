#!/usr/bin/env python3
"""OpenCV dnn's Caffe importer as a timing peer for bench/zoo.ts: reads commands on stdin, one
JSON object per line, answers one JSON line each. Needs python3-opencv (cv2).
  {"load": PROTOTXT, "weights": CAFFEMODEL}  -> {"load_ms": t}
  {"threads": N}                              -> {"ok": true}
  {"input": [n, c, h, w]}                     -> {"ok": true}  (uniform [0,1) data, seed 1)
  {"run": K}                                  -> {"ms": [t1, ..., tK]}  (K forward passes)
"""
import json
import sys
import time

import cv2
import numpy as np


def main():
    net = None
    x = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if "load" in cmd:
            t = time.perf_counter()
            net = cv2.dnn.readNetFromCaffe(cmd["load"], cmd["weights"])
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
            out = {"load_ms": (time.perf_counter() - t) * 1000}
        elif "threads" in cmd:
            cv2.setNumThreads(int(cmd["threads"]))
            out = {"ok": True}
        elif "input" in cmd:
            x = np.random.default_rng(1).random(cmd["input"], dtype=np.float32)
            net.setInput(x)
            net.forward()  # first pass allocates and fuses; not timed
            out = {"ok": True}
        elif "run" in cmd:
            ms = []
            for _ in range(int(cmd["run"])):
                t = time.perf_counter()
                net.setInput(x)
                net.forward()
                ms.append((time.perf_counter() - t) * 1000)
            out = {"ms": ms}
        else:
            out = {"error": "unknown command"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
