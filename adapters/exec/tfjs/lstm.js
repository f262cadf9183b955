// TensorFlow.js's tf.layers.lstm (with tf.layers.bidirectional, masks and goBackwards) as a
// backend of the LSTM conformance suite: a program of protocol.js, served in Node by
// run_in_node.js or in a browser page by run_in_browser.js.
//
// Weights come in the Keras layout (tfjs-layers stores Keras's kernel [I, 4H],
// recurrent_kernel [H, 4H] and one bias [4H], gates i, f, c, o); gradients go back
// canonical: w_ih = kernel^T, w_hh = recurrent_kernel^T, and both biases get the bias's
// gradient. Runs in float32 (the only float dtype of TensorFlow.js's backends).
'use strict';

function tfjsLstm(tf) {
  // Oracle activation name -> [tfjs-layers' name, the oracle parameters that name computes with].
  const ACTIVATIONS = {
    sigmoid: ['sigmoid', {}],
    tanh: ['tanh', {}],
    relu: ['relu', {}],
    identity: ['linear', {}],
    hard_sigmoid: ['hardSigmoid', { alpha: 0.2, beta: 0.5 }],
    elu: ['elu', { alpha: 1.0 }],
    softsign: ['softsign', {}],
    softplus: ['softplus', {}],
    relu6: ['relu6', {}],
    silu: ['swish', {}],
    gelu: ['gelu', {}],
    gelu_tanh: ['gelu_new', {}],
    selu: ['selu', {}],
  };

  // "hard_sigmoid(alpha=0.25, beta=0.4)" -> {name: 'hard_sigmoid', params: {alpha: 0.25, beta: 0.4}}
  function parseActivation(text) {
    const match = /^([a-z0-9_]+)(?:\((.*)\))?$/.exec(text);
    const params = {};
    for (const part of (match[2] || '').split(',').map((item) => item.trim()).filter(Boolean)) {
      const [key, value] = part.split('=');
      params[key.trim()] = Number(value);
    }
    return { name: match[1], params };
  }

  // Why tf.layers.lstm cannot take the activation in role ('' when it can), else its tfjs name.
  function activationOf(spec, role) {
    const { name, params } = parseActivation(spec[role]);
    if (!(name in ACTIVATIONS)) return { reason: `tf.layers has no activation ${name}` };
    const [tfjsName, implied] = ACTIVATIONS[name];
    const given = { ...implied, ...params };
    if (Object.keys(given).some((key) => given[key] !== implied[key])) {
      return { reason: `tf.layers' ${tfjsName} computes ${name} with ${JSON.stringify(implied)} only, not ${JSON.stringify(given)}` };
    }
    return { name: tfjsName };
  }

  // One reason per thing of the run tf.layers.lstm cannot do (the declaration keeps out the rest).
  function unsupported(spec) {
    const reasons = [];
    if (spec.candidate_activation !== spec.cell_activation) reasons.push('tf.layers.lstm has one `activation` for the candidate and the cell output');
    for (const role of ['gate_activation', 'candidate_activation']) {
      const { reason } = activationOf(spec, role);
      if (reason) reasons.push(reason);
    }
    return reasons;
  }

  function directions(spec) {
    return spec.bidirectional ? 2 : 1;
  }

  function outputSize(spec) {
    return spec.proj_size || spec.hidden_size;
  }

  function layerInputSize(spec, layer) {
    return layer === 0 ? spec.input_size : directions(spec) * outputSize(spec);
  }

  // The Keras layout's prefix of a cell, as the suite names it (adapters/keras_lstm.py).
  function cellPrefix(spec, layer, direction) {
    return `layer${layer}.${spec.reverse || direction === 1 ? 'backward' : 'forward'}`;
  }

  // One built layer per LSTM layer: tf.layers.lstm, or tf.layers.bidirectional around one.
  function build(spec, lastOutputOnly) {
    const layers = [];
    for (let layer = 0; layer < spec.num_layers; layer++) {
      const options = {
        units: spec.hidden_size,
        activation: activationOf(spec, 'candidate_activation').name,
        recurrentActivation: activationOf(spec, 'gate_activation').name,
        useBias: spec.bias,
        returnSequences: !(lastOutputOnly && layer === spec.num_layers - 1),
        returnState: true,
        kernelInitializer: 'zeros',
        recurrentInitializer: 'zeros',
      };
      const built = spec.bidirectional
        ? tf.layers.bidirectional({ layer: tf.layers.lstm(options), mergeMode: 'concat' })
        : tf.layers.lstm({ ...options, goBackwards: spec.reverse });
      built.build([null, null, layerInputSize(spec, layer)]);
      // RNN.build (tfjs-layers 4.22, layers/recurrent.js) leaves `built` unset, so that apply()
      // would build the cell again and throw "Duplicate weight name kernel".
      built.built = true;
      layers.push(built);
    }
    return layers;
  }

  // Assign the Keras-layout weights of the manifest to the built layers.
  function load(spec, layers, io, files) {
    layers.forEach((built, layer) => {
      const values = [];
      for (let direction = 0; direction < directions(spec); direction++) {
        const prefix = cellPrefix(spec, layer, direction);
        for (const name of spec.bias ? ['kernel', 'recurrent_kernel', 'bias'] : ['kernel', 'recurrent_kernel']) {
          values.push(io.tensor(files[`${prefix}.${name}`], 'float32'));
        }
      }
      built.setWeights(values);
    });
  }

  // Run the layers over x [B, T, I] with mask [B, T] (or undefined) from per-cell initial
  // states (canonical cell order); outputs [B, T, D*R] (or [B, D*R]), h_n and c_n per cell.
  function stack(spec, layers, x, mask, h0, c0) {
    const hN = [];
    const cN = [];
    let input = x;
    layers.forEach((built, layer) => {
      const kwargs = mask ? { mask } : {};
      if (h0) {
        kwargs.initialState = [];
        for (let direction = 0; direction < directions(spec); direction++) {
          const cell = layer * directions(spec) + direction;
          kwargs.initialState.push(h0[cell], c0[cell]);
        }
      }
      const [output, ...states] = built.apply(input, kwargs);
      input = spec.reverse && built.returnSequences ? tf.reverse(output, 1) : output;
      for (let index = 0; index < states.length; index += 2) {
        hN.push(states[index]);
        cN.push(states[index + 1]);
      }
    });
    return { outputs: input, hN, cN };
  }

  // Batch-major [B, T, ...] <-> the request's layout (a [B, F] tensor stays as it is).
  function toRequestLayout(manifest, value) {
    return manifest.batch_first || value.rank === 2 ? value : tf.transpose(value, [1, 0, 2]);
  }

  // Run the request of manifest, reading and returning arrays through io (see protocol.js).
  function run(manifest, io) {
    const { spec } = manifest;
    const reasons = unsupported(spec);
    if (reasons.length) return { ok: false, unsupported: reasons };
    const inputs = manifest.inputs;
    const gradients = 'upstream' in manifest;
    const layers = build(spec, manifest.last_output_only);
    try {
      load(spec, layers, io, manifest.weights.keras);
      tf.tidy(() => {
        const x = toRequestLayout(manifest, io.tensor(inputs.x, 'float32'));
        const batch = x.shape[0];
        let mask;
        if (inputs.lengths) {
          const lengths = io.tensor(inputs.lengths, 'int32');
          mask = tf.less(tf.range(0, x.shape[1], 1, 'int32').expandDims(0), lengths.expandDims(1));
        }
        const cells = spec.num_layers * directions(spec);
        const given = inputs.h0 !== null;
        const states = (file, size) => (given ? tf.unstack(io.tensor(file, 'float32')) : Array.from({ length: cells }, () => tf.zeros([batch, size])));
        if (!gradients) {
          const result = stack(spec, layers, x, mask, given ? states(inputs.h0) : undefined, given ? states(inputs.c0) : undefined);
          io.save('outputs', toRequestLayout(manifest, result.outputs));
          io.save('h_n', tf.stack(result.hN));
          io.save('c_n', tf.stack(result.cN));
          return;
        }
        const xVariable = tf.variable(x);
        const h0 = states(inputs.h0, outputSize(spec)).map((value) => tf.variable(value));
        const c0 = states(inputs.c0, spec.hidden_size).map((value) => tf.variable(value));
        const upstream = Object.fromEntries(['outputs', 'h_n', 'c_n'].map((name) => [name, io.tensor(manifest.upstream[name], 'float32')]));
        const upstreamOutputs = toRequestLayout(manifest, upstream.outputs);
        const weights = layers.flatMap((built) => built.trainableWeights.map((weight) => weight.read()));
        let result;
        const loss = () => {
          result = stack(spec, layers, xVariable, mask, h0, c0);
          // variableGrads disposes what its function computes but the loss: keep the results.
          [result.outputs, ...result.hN, ...result.cN].forEach((value) => tf.keep(value));
          const terms = [tf.sum(tf.mul(result.outputs, upstreamOutputs))];
          result.hN.forEach((h, cell) => terms.push(tf.sum(tf.mul(h, upstream.h_n.gather(cell)))));
          result.cN.forEach((c, cell) => terms.push(tf.sum(tf.mul(c, upstream.c_n.gather(cell)))));
          return tf.addN(terms);
        };
        const { grads } = tf.variableGrads(loss, [xVariable, ...h0, ...c0, ...weights]);
        io.save('outputs', toRequestLayout(manifest, result.outputs));
        io.save('h_n', tf.stack(result.hN));
        io.save('c_n', tf.stack(result.cN));
        io.save('grad_x', toRequestLayout(manifest, grads[xVariable.name]));
        io.save('grad_h0', tf.stack(h0.map((value) => grads[value.name])));
        io.save('grad_c0', tf.stack(c0.map((value) => grads[value.name])));
        saveCellGradients(spec, io, layers, grads);
        tf.dispose([xVariable, ...h0, ...c0, result.outputs, ...result.hN, ...result.cN]);
      });
      return { ok: true };
    } finally {
      release(layers);
    }
  }

  // Free the layers' weight variables (a layer only applied to symbolic shapes cannot be disposed whole).
  function release(layers) {
    for (const built of layers) for (const weight of built.weights) weight.dispose();
  }

  // Each cell's weight gradients in the canonical layout (see the header).
  function saveCellGradients(spec, io, layers, grads) {
    layers.forEach((built, layer) => {
      const perDirection = built.trainableWeights.length / directions(spec);
      for (let direction = 0; direction < directions(spec); direction++) {
        const [kernel, recurrent, bias] = built.trainableWeights.slice(direction * perDirection, (direction + 1) * perDirection).map((weight) => grads[weight.read().name]);
        const cell = `grad_cell${layer * directions(spec) + direction}`;
        io.save(`${cell}.w_ih`, tf.transpose(kernel));
        io.save(`${cell}.w_hh`, tf.transpose(recurrent));
        if (bias) {
          io.save(`${cell}.b_ih`, bias);
          io.save(`${cell}.b_hh`, bias);
        }
      }
    });
  }

  function count(spec) {
    const layers = build(spec, false);
    const total = layers.reduce((sum, built) => sum + built.countParams(), 0);
    release(layers);
    return total;
  }

  return { count, run };
}

if (typeof module === 'object') module.exports = tfjsLstm;
else globalThis.lstmParityProgram = tfjsLstm;
