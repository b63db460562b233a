// A layer of your own: the Euclidean loss of pycaffe's example python layer (module "pyloss",
// class "EuclideanLossLayer", used by BVLC's examples/pycaffe/linreg.prototxt), in TypeScript.
//   loss = sum((a - b)^2) / num / 2,   da = (a - b) / num * dloss,   db = -(a - b) / num * dloss
// Registered under "pyloss.EuclideanLossLayer", it is what a `type: "Python"` layer with
// python_param { module: "pyloss" layer: "EuclideanLossLayer" } runs. In your project, import
// from 'caffe-ts' instead of '../src/index.js'.
import { Blob, Layer, registerLayer } from '../src/index.js';

export class EuclideanLossLayer extends Layer {
  private diff = new Float32Array(0);

  get type(): string {
    return 'Python';
  }
  override exactNumBottomBlobs(): number {
    return 2;
  }
  override exactNumTopBlobs(): number {
    return 1;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    this.check(bottom[0].count === bottom[1].count, () => `the inputs must have the same count: ${bottom[0].shapeString()} vs ${bottom[1].shapeString()}`);
    this.diff = new Float32Array(bottom[0].count);
    top[0].reshape([1]);
  }

  protected forwardCpu(bottom: Blob[], top: Blob[]): void {
    const [a, b] = [bottom[0].data, bottom[1].data];
    let sum = 0;
    for (let i = 0; i < a.length; i++) {
      this.diff[i] = a[i] - b[i];
      sum += this.diff[i] * this.diff[i];
    }
    top[0].data[0] = sum / bottom[0].shape[0] / 2;
  }

  protected override backwardCpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    for (let i = 0; i < 2; i++) {
      if (!propagateDown[i]) continue;
      const k = ((i === 0 ? 1 : -1) * top[0].diff[0]) / bottom[i].shape[0];
      const d = bottom[i].diff;
      for (let j = 0; j < d.length; j++) d[j] = k * this.diff[j];
    }
  }
}

registerLayer('pyloss.EuclideanLossLayer', EuclideanLossLayer);
