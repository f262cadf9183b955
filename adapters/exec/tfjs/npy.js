// NumPy's .npy files (format 1.0 to 3.0), little-endian float64, float32 and int64 arrays
// in C order: what the LSTM conformance suite's process protocol exchanges.
'use strict';

const fs = require('fs');

const MAGIC = '\x93NUMPY';
const READERS = {
  '<f8': (buffer, offset, count) => Array.from(new Float64Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + 8 * count))),
  '<f4': (buffer, offset, count) => Array.from(new Float32Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + 4 * count))),
  '<i8': (buffer, offset, count) => Array.from(new BigInt64Array(buffer.buffer.slice(buffer.byteOffset + offset, buffer.byteOffset + offset + 8 * count)), Number),
};

// {shape, values}: the array in the .npy file at path, values flat in C order.
function readNpy(path) {
  const buffer = fs.readFileSync(path);
  if (buffer.toString('latin1', 0, 6) !== MAGIC) throw new Error(`${path}: not a .npy file`);
  const major = buffer[6];
  const headerLength = major === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buffer.toString('latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not read`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((part) => part.trim()).filter(Boolean).map(Number);
  if (!(descr in READERS)) throw new Error(`${path}: dtype ${descr} is not read`);
  const count = shape.reduce((product, size) => product * size, 1);
  return { shape, values: READERS[descr](buffer, start + headerLength, count) };
}

// Write values (flat, C order) of the given shape as a float64 .npy file at path.
function writeNpy(path, shape, values) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write(MAGIC, 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const data = Buffer.from(Float64Array.from(values).buffer);
  fs.writeFileSync(path, Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]));
}

module.exports = { readNpy, writeNpy };
