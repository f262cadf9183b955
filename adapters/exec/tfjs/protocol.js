// The LSTM conformance suite's process protocol, version 1, as TensorFlow.js programs speak
// it: one JSON request per line on standard input, one JSON reply per line on standard
// output, runs exchanged as .npy files (see adapters/exec_backend.py and adapters/exchange.py).
//
// A program (lstm.js, basic_cell.js) is a factory of tf: program(tf) gives {count(spec),
// run(manifest, io)}, where io.tensor(file, dtype) reads an array the manifest names and
// io.save(name, tensor) returns one. run_in_node.js and run_in_browser.js serve the same
// program with TensorFlow.js in Node or in a browser page.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const PROTOCOL = 'lstm-parity-exec';
const PROTOCOL_VERSION = 1;
const MANIFEST = 'case.json';

// Standard output carries the protocol: everything else a program or TensorFlow.js prints
// goes to standard error.
function keepStdoutForReplies() {
  console.log = console.error;
  console.info = console.error;
}

// The manifest of the run in folder.
function manifestOf(folder) {
  return JSON.parse(fs.readFileSync(path.join(folder, MANIFEST), 'utf8'));
}

// An error's message and where it was raised: the stack's first frames, their files relative
// to the programs' folder.
function described(error) {
  const stack = error.stack || `${error.name}: ${error.message}`;
  return stack.split('\n').slice(0, 5).join('\n').split(`${__dirname}${path.sep}`).join('');
}

// Answer every request with the handlers (each may return a promise of its reply):
// describe() -> {ok, version}, count(spec) -> {ok, count}, run(folder) -> {ok} or
// {ok: false, unsupported: [reasons]}.
async function serve(handlers) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    let reply;
    try {
      const request = JSON.parse(line);
      if (request.protocol !== PROTOCOL || request.version !== PROTOCOL_VERSION) {
        reply = { ok: false, error: `expected protocol ${PROTOCOL} version ${PROTOCOL_VERSION}, got ${request.protocol} version ${request.version}` };
      } else if (request.op === 'describe') {
        reply = await handlers.describe();
      } else if (request.op === 'count') {
        reply = await handlers.count(request.spec);
      } else if (request.op === 'run') {
        reply = await handlers.run(request.dir);
      } else {
        reply = { ok: false, error: `expected op describe, count or run, got ${request.op}` };
      }
    } catch (error) {
      reply = { ok: false, error: described(error) };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  }
  if (handlers.close) await handlers.close();
}

// The program file named by the command line (relative to this folder), checked.
function programPath(name) {
  const file = path.resolve(__dirname, name || '');
  if (!name || path.dirname(file) !== __dirname || !fs.existsSync(file)) {
    throw new Error(`expected the name of a program file in ${__dirname} as the first argument, got ${JSON.stringify(name)}`);
  }
  return file;
}

module.exports = { keepStdoutForReplies, manifestOf, serve, programPath };
