import * as tf from '@tensorflow/tfjs-core';

/** An optimizer over named variables whose learning rate is set at every step by the schedule. */
export interface Optimizer {
  /** Updates every variable that has a gradient in `gradients` (keyed by variable name) at `learningRate`. */
  step(gradients: ReadonlyMap<string, tf.Tensor>, learningRate: number): void;
  /** Frees the optimizer's state (momentum buffers, moment estimates). */
  dispose(): void;
}

/** SGD with momentum and coupled L2 weight decay, as torch.optim.SGD. */
export function sgd(variables: ReadonlyMap<string, tf.Variable>, momentum: number, weightDecay: number): Optimizer {
  const velocity = new Map<string, tf.Variable>();
  return {
    step(gradients, learningRate) {
      tf.tidy(() => {
        for (const [name, variable] of variables) {
          const raw = gradients.get(name);
          if (raw === undefined) continue;
          const gradient = weightDecay === 0 ? raw : tf.add(raw, tf.mul(variable, weightDecay));
          let update: tf.Tensor = gradient;
          if (momentum !== 0) {
            let buffer = velocity.get(name);
            if (buffer === undefined) {
              buffer = tf.variable(gradient, false);
              velocity.set(name, buffer);
            } else buffer.assign(tf.add(tf.mul(buffer, momentum), gradient));
            update = buffer;
          }
          variable.assign(tf.sub(variable, tf.mul(update, learningRate)));
        }
      });
    },
    dispose() {
      for (const v of velocity.values()) v.dispose();
    },
  };
}

/** AdamW (Loshchilov & Hutter) with decoupled weight decay, as torch.optim.AdamW. */
export function adamw(variables: ReadonlyMap<string, tf.Variable>, weightDecay: number, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8): Optimizer {
  const moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  let t = 0;
  return {
    step(gradients, learningRate) {
      t += 1;
      tf.tidy(() => {
        for (const [name, variable] of variables) {
          const gradient = gradients.get(name);
          if (gradient === undefined) continue;
          let state = moments.get(name);
          if (state === undefined) {
            state = { m: tf.variable(tf.zerosLike(variable), false), v: tf.variable(tf.zerosLike(variable), false) };
            moments.set(name, state);
          }
          state.m.assign(tf.add(tf.mul(state.m, beta1), tf.mul(gradient, 1 - beta1)));
          state.v.assign(tf.add(tf.mul(state.v, beta2), tf.mul(tf.square(gradient), 1 - beta2)));
          const mHat = tf.div(state.m, 1 - beta1 ** t);
          const vHat = tf.div(state.v, 1 - beta2 ** t);
          const decayed = tf.mul(variable, 1 - learningRate * weightDecay);
          variable.assign(tf.sub(decayed, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), learningRate)));
        }
      });
    },
    dispose() {
      for (const { m, v } of moments.values()) tf.dispose([m, v]);
    },
  };
}

/**
 * Returns the learning rate at a step: a constant warmup rate for the first `warmupSteps` steps, then cosine
 * decay from `base` to 0 over the remaining steps (Dassl's "constant" warmup followed by cosine).
 */
export function cosineWithWarmup(step: number, totalSteps: number, base: number, warmupSteps: number, warmupRate: number): number {
  if (step < warmupSteps) return warmupRate;
  const span = Math.max(1, totalSteps - warmupSteps);
  return 0.5 * base * (1 + Math.cos((Math.PI * (step - warmupSteps)) / span));
}
