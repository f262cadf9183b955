// The LSTM conformance suite's process protocol, version 1, for a TensorFlow.js program: one
// JSON request per line on standard input, one JSON reply per line on standard output, runs
// exchanged as .npy files (see adapters/exec_backend.py and adapters/exchange.py).
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

// Standard output carries the protocol; TensorFlow.js's notices go to standard error.
console.log = console.error;
console.info = console.error;
const tf = require('@tensorflow/tfjs');
const { readNpy, writeNpy } = require('./npy');

const PROTOCOL = 'lstm-parity-exec';
const PROTOCOL_VERSION = 1;

// The manifest of the run in folder (case.json).
function manifestOf(folder) {
  return JSON.parse(fs.readFileSync(path.join(folder, 'case.json'), 'utf8'));
}

// The array a manifest names, as a tensor of dtype.
function tensor(folder, file, dtype) {
  const { shape, values } = readNpy(path.join(folder, file));
  return tf.tensor(values, shape, dtype);
}

// Write a returned array as folder/<name>.npy.
function save(folder, name, value) {
  writeNpy(path.join(folder, `${name}.npy`), value.shape, value.dataSync());
}

// Batch-major [B, T, ...] <-> the request's layout (a [B, F] tensor stays as it is).
function toRequestLayout(manifest, value) {
  return manifest.batch_first || value.rank === 2 ? value : tf.transpose(value, [1, 0, 2]);
}

// An error's message and where it was raised: the stack's first frames, their files relative
// to the program's folder.
function described(error) {
  const stack = error.stack || `${error.name}: ${error.message}`;
  return stack.split('\n').slice(0, 5).join('\n').split(`${__dirname}${path.sep}`).join('');
}

// Answer every request with handlers.count(spec) and handlers.run(folder) (each returns the reply).
async function serve(handlers) {
  await tf.setBackend('cpu');
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    let reply;
    try {
      const request = JSON.parse(line);
      if (request.protocol !== PROTOCOL || request.version !== PROTOCOL_VERSION) {
        reply = { ok: false, error: `expected protocol ${PROTOCOL} version ${PROTOCOL_VERSION}, got ${request.protocol} version ${request.version}` };
      } else if (request.op === 'describe') {
        reply = { ok: true, version: tf.version.tfjs };
      } else if (request.op === 'count') {
        reply = { ok: true, count: handlers.count(request.spec) };
      } else if (request.op === 'run') {
        reply = handlers.run(request.dir);
      } else {
        reply = { ok: false, error: `expected op describe, count or run, got ${request.op}` };
      }
    } catch (error) {
      reply = { ok: false, error: described(error) };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }
}

module.exports = { tf, manifestOf, tensor, save, toRequestLayout, serve };
