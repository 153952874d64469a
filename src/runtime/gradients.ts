// tfjs-core's Node build registers no gradient functions; the @tensorflow/tfjs package registers them all
// (and shares tfjs-core's global kernel and gradient registries). Every module that differentiates imports this.
import '@tensorflow/tfjs';
