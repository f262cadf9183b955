// Serve a TensorFlow.js program (the file named as the first argument, e.g. lstm.js) in
// Node, on TensorFlow.js's pure JavaScript CPU backend: see protocol.js.
'use strict';

const path = require('path');
const { keepStdoutForReplies, manifestOf, serve, programPath } = require('./protocol');

keepStdoutForReplies();
const tf = require('@tensorflow/tfjs');
const { readNpy, writeNpy } = require('./npy');

const program = require(programPath(process.argv[2]))(tf);

// Arrays read from and written to the run's folder as .npy files.
function filesOf(folder) {
  return {
    tensor: (file, dtype) => {
      const { shape, values } = readNpy(path.join(folder, file));
      return tf.tensor(values, shape, dtype);
    },
    save: (name, value) => writeNpy(path.join(folder, `${name}.npy`), value.shape, value.dataSync()),
  };
}

async function main() {
  await tf.setBackend('cpu');
  await serve({
    describe: () => ({ ok: true, version: tf.version.tfjs }),
    count: (spec) => ({ ok: true, count: program.count(spec) }),
    run: (folder) => program.run(manifestOf(folder), filesOf(folder)),
  });
}

main();
