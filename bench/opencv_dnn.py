#!/usr/bin/env python3
"""OpenCV dnn's Caffe importer as a timing peer for bench/zoo.ts: reads commands on stdin, one
JSON object per line, answers one JSON line each. Needs python3-opencv (cv2).
  {"load": PROTOTXT, "weights": CAFFEMODEL}  -> {"load_ms": t}
  {"threads": N}                              -> {"ok": true}
  {"input": [n, c, h, w]}                     -> {"ok": true}  (uniform [0,1) data, seed 1)
  {"run": K}                                  -> {"ms": [t1, ..., tK]}  (K forward passes)
  {"profile": K}                              -> {"layers": [{"name", "type", "ms"}]}  (mean per pass
                                                 over K passes, from getPerfProfile; fused layers ~0)
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
        elif "profile" in cmd:
            names = list(net.getLayerNames())
            total = np.zeros(len(names))
            k = int(cmd["profile"])
            for _ in range(k):
                net.setInput(x)
                net.forward()
                _, timings = net.getPerfProfile()
                t = np.asarray(timings, dtype=np.float64).reshape(-1)
                total[: len(t)] += t[: len(names)]
            freq = cv2.getTickFrequency() / 1000.0
            out = {"layers": [{"name": n, "type": net.getLayer(n).type, "ms": total[i] / freq / k} for i, n in enumerate(names)]}
        else:
            out = {"error": "unknown command"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
