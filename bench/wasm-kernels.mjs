// Kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks.
import * as tf from '@tensorflow/tfjs-core';

/**
 * Registers a JavaScript UnsortedSegmentSum for the wasm backend when it has none, and returns a note
 * saying so (or undefined when nothing was registered). The gradient of tf.gather calls this kernel.
 * vlm-compat's CLIP text towers pool at end-of-text with a one-hot product instead, so only code that
 * differentiates through tf.gather on wasm needs this.
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
        if (segment < 0 || segment >= segments) continue; // TensorFlow drops negative ids. Ids past the last segment are dropped too.
        for (let i = 0; i < inner; i++) outValues[segment * inner + i] += values[row * inner + i];
      }
      return out;
    },
  });
  return 'wasm has no UnsortedSegmentSum kernel, which the gradient of tf.gather needs, so the benchmark registered a JavaScript one';
}
