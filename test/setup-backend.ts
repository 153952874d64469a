import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

// Tests run on the cpu backend: it is deterministic and needs no WebAssembly start-up in each worker.
await tf.setBackend('cpu');
