// Kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks but the text tower's backward pass needs.
import * as tf from '@tensorflow/tfjs-core';

/**
 * Registers a JavaScript UnsortedSegmentSum for the wasm backend when it has none, and returns a note
 * saying so (or undefined when nothing was registered). tf.gather's gradient calls this kernel, and
 * encodeClipText pools each row at its end-of-text token with tf.gather, so without it every text-tower
 * gradient fails on wasm. The kernel sums [prompts, 512] values into [prompts * tokens, 512]: its cost is
 * tiny next to the tower's.
 */
export function registerMissingWasmKernels() {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') !== undefined) return undefined;

  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs;
      const segments = attrs.numSegments;
      const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
      const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
      const out = backend.makeOutput([segments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);

      // Views are taken after makeOutput because an allocation can grow the wasm heap and detach older views.
      const outValues = backend.typedArrayFromHeap(out);
      const values = backend.typedArrayFromHeap(x);
      const ids = backend.typedArrayFromHeap(segmentIds);
      outValues.fill(0);
      for (let row = 0; row < rows; row++) {
        const segment = ids[row];
        if (segment < 0 || segment >= segments) continue; // TensorFlow drops out-of-range ids, so this does too.
        for (let i = 0; i < inner; i++) outValues[segment * inner + i] += values[row * inner + i];
      }
      return out;
    },
  });
  return 'wasm has no UnsortedSegmentSum kernel, which the gradient of tf.gather (end-of-text pooling in encodeClipText) needs; the benchmark registered a JavaScript one';
}
