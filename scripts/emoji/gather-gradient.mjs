// The wasm backend has no UnsortedSegmentSum kernel, which tfjs's own gradient of gather needs. This
// replaces that gradient, for gathers along axis 0, with a scatter-add computed in JavaScript (the rows
// involved are few: token embeddings and pooled EOT rows).
import * as tf from '@tensorflow/tfjs-core';

export function registerGatherGradient() {
  tf.registerGradient({
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved;
      if (attrs.axis !== 0 || (attrs.batchDims ?? 0) !== 0) {
        throw new Error(`the replacement gather gradient handles axis 0 only, got axis ${attrs.axis}`);
      }
      const rowWidth = x.size / x.shape[0];
      const ids = indices.dataSync();
      const upstream = dy.dataSync();
      const sum = new Float32Array(x.size);
      for (let i = 0; i < ids.length; i++) {
        const target = ids[i] * rowWidth;
        const source = i * rowWidth;
        for (let j = 0; j < rowWidth; j++) sum[target + j] += upstream[source + j];
      }
      return { x: () => tf.tensor(sum, x.shape), indices: () => tf.zerosLike(indices) };
    },
  });
}
