// TensorFlow.js's tf.basicLSTMCell, stacked with tf.multiRNNCell and stepped over time, as a
// backend of the LSTM conformance suite: a program of protocol.js (served by run_in_node.js).
//
// basicLSTMCell(forgetBias, kernel, bias, data, c, h) computes, with kernel [I + H, 4H]
// applied to [data, h] and gate blocks in the order i, j (the candidate), f, o:
// c' = sigmoid(i) * tanh(j) + sigmoid(f + forgetBias) * c, h' = tanh(c') * sigmoid(o).
// It adds forgetBias (1.0 here, as TensorFlow's BasicLSTMCell does by default) at every
// step: the declaration says so (parameter_offsets), and the suite hands over the canonical
// forget bias minus it. Weights come canonical; gradients go back canonical.
'use strict';

function tfjsBasicCell(tf) {
  const FORGET_BIAS = 1.0;
  // Block k of basicLSTMCell's kernel holds canonical gate BLOCKS[k] (canonical: i, f, g, o);
  // the permutation is its own inverse.
  const BLOCKS = [0, 2, 1, 3];

  function reordered(value) {
    const parts = tf.split(value, 4, value.rank - 1);
    return tf.concat(BLOCKS.map((block) => parts[block]), value.rank - 1);
  }

  // Each layer's kernel [I + H, 4H] and bias [4H] from the canonical cells.
  function cells(manifest, io) {
    const { spec, weights } = manifest;
    const files = weights.canonical;
    const read = (name) => io.tensor(files[name], 'float32');
    return Array.from({ length: spec.num_layers }, (_, layer) => ({
      kernel: reordered(tf.concat([read(`cell${layer}.w_ih`), read(`cell${layer}.w_hh`)], 1).transpose()),
      bias: reordered(tf.add(read(`cell${layer}.b_ih`), read(`cell${layer}.b_hh`))),
    }));
  }

  // Step the stacked cells over x [T, B, I] from per-layer states: outputs [T, B, H], h_n, c_n.
  function steps(layers, x, h0, c0) {
    const stepCells = layers.map(({ kernel, bias }) => (data, c, h) => tf.basicLSTMCell(FORGET_BIAS, kernel, bias, data, c, h));
    let h = h0;
    let c = c0;
    // Each step's input sliced out (tf.unstack's gradient fails over an axis of one element).
    const inputs = Array.from({ length: x.shape[0] }, (_, t) => tf.squeeze(tf.slice(x, [t, 0, 0], [1, -1, -1]), [0]));
    const outputs = inputs.map((input) => {
      [c, h] = tf.multiRNNCell(stepCells, input, c, h);
      return h[h.length - 1];
    });
    return { outputs: tf.stack(outputs), hN: h, cN: c };
  }

  // Run the request of manifest, reading and returning arrays through io (see protocol.js).
  function run(manifest, io) {
    const { spec, inputs } = manifest;
    tf.tidy(() => {
      const given = io.tensor(inputs.x, 'float32');
      const x = manifest.batch_first ? tf.transpose(given, [1, 0, 2]) : given;
      const batch = x.shape[1];
      const states = (file) => (file ? tf.unstack(io.tensor(file, 'float32')) : Array.from({ length: spec.num_layers }, () => tf.zeros([batch, spec.hidden_size])));
      const layers = cells(manifest, io);
      const back = (outputs) => (manifest.batch_first ? tf.transpose(outputs, [1, 0, 2]) : outputs);
      if (!('upstream' in manifest)) {
        const result = steps(layers, x, states(inputs.h0), states(inputs.c0));
        io.save('outputs', back(result.outputs));
        io.save('h_n', tf.stack(result.hN));
        io.save('c_n', tf.stack(result.cN));
        return;
      }
      const upstream = Object.fromEntries(['outputs', 'h_n', 'c_n'].map((name) => [name, io.tensor(manifest.upstream[name], 'float32')]));
      const upstreamOutputs = manifest.batch_first ? tf.transpose(upstream.outputs, [1, 0, 2]) : upstream.outputs;
      const h0 = states(inputs.h0);
      const c0 = states(inputs.c0);
      const L = spec.num_layers;
      const argumentsOf = [x, ...h0, ...c0, ...layers.map((layer) => layer.kernel), ...layers.map((layer) => layer.bias)];
      const loss = (...values) => {
        const rebuilt = layers.map((_, layer) => ({ kernel: values[1 + 2 * L + layer], bias: values[1 + 3 * L + layer] }));
        const result = steps(rebuilt, values[0], values.slice(1, 1 + L), values.slice(1 + L, 1 + 2 * L));
        const terms = [tf.sum(tf.mul(result.outputs, upstreamOutputs))];
        result.hN.forEach((h, layer) => terms.push(tf.sum(tf.mul(h, upstream.h_n.gather(layer)))));
        result.cN.forEach((c, layer) => terms.push(tf.sum(tf.mul(c, upstream.c_n.gather(layer)))));
        return tf.addN(terms);
      };
      const grads = tf.grads(loss)(argumentsOf);
      const result = steps(layers, x, h0, c0);
      io.save('outputs', back(result.outputs));
      io.save('h_n', tf.stack(result.hN));
      io.save('c_n', tf.stack(result.cN));
      io.save('grad_x', back(grads[0]));
      io.save('grad_h0', tf.stack(grads.slice(1, 1 + L)));
      io.save('grad_c0', tf.stack(grads.slice(1 + L, 1 + 2 * L)));
      for (let layer = 0; layer < L; layer++) {
        const kernel = reordered(grads[1 + 2 * L + layer]);
        const bias = reordered(grads[1 + 3 * L + layer]);
        const inputSize = kernel.shape[0] - spec.hidden_size;
        io.save(`grad_cell${layer}.w_ih`, kernel.slice([0, 0], [inputSize, -1]).transpose());
        io.save(`grad_cell${layer}.w_hh`, kernel.slice([inputSize, 0], [-1, -1]).transpose());
        io.save(`grad_cell${layer}.b_ih`, bias);
        io.save(`grad_cell${layer}.b_hh`, bias);
      }
    });
    return { ok: true };
  }

  // The kernel and bias basicLSTMCell holds per layer.
  function count(spec) {
    let total = 0;
    for (let layer = 0; layer < spec.num_layers; layer++) {
      const inputSize = layer === 0 ? spec.input_size : spec.hidden_size;
      total += (inputSize + spec.hidden_size) * 4 * spec.hidden_size + 4 * spec.hidden_size;
    }
    return total;
  }

  return { count, run };
}

if (typeof module === 'object') module.exports = tfjsBasicCell;
else globalThis.lstmParityProgram = tfjsBasicCell;
