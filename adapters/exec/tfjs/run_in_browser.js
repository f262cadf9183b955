// Serve a TensorFlow.js program (the file named as the first argument, e.g. lstm.js) in a
// page of headless Chromium, on the TensorFlow.js backend named as the second argument
// (webgl: WebGL 2 shaders, which a machine without a GPU runs on SwiftShader, Chromium's
// software renderer): see protocol.js.
//
// Chromium is driven over its DevTools protocol on a pipe (file descriptors 3 and 4), with
// Node's standard library only. Arrays cross into the page as base64 of their float64 bytes
// (JSON has no NaN or infinity) and come back the same way. A browser that exits fails the
// request it was computing; the next request starts a new one.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { keepStdoutForReplies, manifestOf, serve, programPath } = require('./protocol');
const { readNpy, writeNpy } = require('./npy');

keepStdoutForReplies();

// Debian's package installs the browser as chromium; other systems name it otherwise.
const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome'];
const BACKENDS = ['webgl', 'cpu'];
// How much of the browser's standard error is kept for the message when it exits.
const STDERR_TAIL = 4000;
const STDERR_WAIT_MS = 500;
const TFJS_SCRIPT = require.resolve('@tensorflow/tfjs/dist/tf.min.js');

// What the page defines once, beside TensorFlow.js and the program: base64 <-> float64 and
// one run with arrays given and returned as {shape, data: base64}.
const PAGE_SCRIPT = `
function fromBase64(text) {
  const bytes = Uint8Array.from(atob(text), (character) => character.charCodeAt(0));
  return Array.from(new Float64Array(bytes.buffer));
}
function toBase64(values) {
  const bytes = new Uint8Array(Float64Array.from(values).buffer);
  let text = '';
  for (let start = 0; start < bytes.length; start += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(start, start + 0x8000));
  return btoa(text);
}
function runInPage(manifest, arrays) {
  const returned = {};
  const io = {
    tensor: (file, dtype) => tf.tensor(fromBase64(arrays[file].data), arrays[file].shape, dtype),
    save: (name, value) => { returned[name] = { shape: value.shape, data: toBase64(value.dataSync()) }; },
  };
  const reply = program.run(manifest, io);
  return { reply, returned };
}
`;

function findBrowser() {
  for (const name of BROWSER_NAMES) {
    for (const folder of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
      const candidate = path.join(folder, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not in this folder
      }
    }
  }
  return null;
}

// One headless Chromium with one page, spoken to over the DevTools protocol's pipe.
class Page {
  constructor(executable) {
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lstm-parity-tfjs-browser-'));
    this.process = spawn(executable, [
      '--headless=new', '--no-sandbox', '--no-first-run', '--remote-debugging-pipe',
      // WebGL without a GPU: SwiftShader, asked for by name rather than by deprecated fallback.
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      `--user-data-dir=${this.profile}`, 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    this.nextId = 0;
    // The end of what the browser wrote to its standard error, for the message if it exits.
    this.stderrTail = '';
    this.process.stdio[2].on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL);
    });
    this.waiting = new Map();
    this.buffer = Buffer.alloc(0);
    this.exited = null;
    this.process.stdio[4].on('data', (chunk) => this.received(chunk));
    this.process.on('exit', (code, signal) => {
      this.exited = signal ? `killed by ${signal}` : `exit status ${code}`;
      // Its standard error may still hold its last words: wait for its end, a moment at most.
      let failed = false;
      const failWaiting = () => {
        if (failed) return;
        failed = true;
        for (const { reject } of this.waiting.values()) reject(new Error(this.exitMessage()));
        this.waiting.clear();
      };
      if (this.process.stdio[2].readableEnded) failWaiting();
      else {
        this.process.stdio[2].once('end', failWaiting);
        setTimeout(failWaiting, STDERR_WAIT_MS);
      }
    });
    this.process.stdio[3].on('error', () => {});
  }

  // Why the browser is gone: how it exited and the last line it wrote to its standard error.
  exitMessage() {
    const lines = this.stderrTail.split('\n').map((line) => line.trim()).filter(Boolean);
    return `the browser exited (${this.exited})${lines.length ? `; its last words: ${lines[lines.length - 1]}` : ''}`;
  }

  received(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    let end;
    while ((end = this.buffer.indexOf(0)) >= 0) {
      const message = JSON.parse(this.buffer.toString('utf8', 0, end));
      this.buffer = this.buffer.subarray(end + 1);
      const waiter = this.waiting.get(message.id);
      if (waiter) {
        this.waiting.delete(message.id);
        if (message.error) waiter.reject(new Error(`${waiter.method}: ${JSON.stringify(message.error)}`));
        else waiter.resolve(message.result || {});
      }
    }
  }

  // One protocol command (to the page's session when session is true); its result.
  call(method, params = {}, session = false) {
    if (this.exited) return Promise.reject(new Error(this.exitMessage()));
    this.nextId += 1;
    const message = { id: this.nextId, method, params };
    if (session) message.sessionId = this.session;
    return new Promise((resolve, reject) => {
      this.waiting.set(message.id, { method, resolve, reject });
      this.process.stdio[3].write(`${JSON.stringify(message)}\0`);
    });
  }

  // The value of a JavaScript expression in the page (awaited when it is a promise).
  async evaluate(expression) {
    const result = await this.call('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, true);
    if (result.exceptionDetails) {
      const { exception, text } = result.exceptionDetails;
      throw new Error((exception && exception.description) || text);
    }
    return result.result.value;
  }

  // Attach to a blank page, load TensorFlow.js and the program, and select the backend.
  async open(programFile, backend) {
    const { targetId } = await this.call('Target.createTarget', { url: 'about:blank' });
    this.session = (await this.call('Target.attachToTarget', { targetId, flatten: true })).sessionId;
    this.browserVersion = (await this.call('Browser.getVersion')).product;
    for (const file of [TFJS_SCRIPT, programFile]) await this.evaluate(fs.readFileSync(file, 'utf8'));
    await this.evaluate(`${PAGE_SCRIPT}; globalThis.program = lstmParityProgram(tf); 0`);
    const selected = await this.evaluate(`tf.setBackend(${JSON.stringify(backend)}).then(() => tf.getBackend())`);
    if (selected !== backend) {
      throw new Error(`TensorFlow.js in ${this.browserVersion} has no ${backend} backend here (it chose ${selected})`);
    }
    if (backend === 'webgl' && !(await this.evaluate("tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')"))) {
      throw new Error(`${this.browserVersion}'s WebGL cannot render float32 here: TensorFlow.js would compute in float16`);
    }
  }

  close() {
    if (!this.exited) this.process.kill('SIGKILL');
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

// The run's arrays the manifest names, as {shape, data: base64 of float64}.
function arraysOf(folder, manifest) {
  const files = new Set(Object.values(manifest.inputs).filter(Boolean));
  for (const layout of Object.values(manifest.weights)) for (const file of Object.values(layout)) files.add(file);
  for (const file of Object.values(manifest.upstream || {})) files.add(file);
  const arrays = {};
  for (const file of files) {
    const { shape, values } = readNpy(path.join(folder, file));
    arrays[file] = { shape, data: Buffer.from(Float64Array.from(values).buffer).toString('base64') };
  }
  return arrays;
}

function fromBase64(text) {
  const bytes = Buffer.from(text, 'base64');
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
}

async function main() {
  const programFile = programPath(process.argv[2]);
  const backend = process.argv[3];
  if (!BACKENDS.includes(backend)) {
    throw new Error(`expected a TensorFlow.js backend (${BACKENDS.join(', ')}) as the second argument, got ${JSON.stringify(backend)}`);
  }
  let page = null;
  // The open page; a new browser when there is none or the last one exited.
  const opened = async () => {
    if (page && !page.exited) return page;
    if (page) page.close();
    const executable = findBrowser();
    if (!executable) throw new Error(`no browser on PATH (looked for ${BROWSER_NAMES.join(', ')})`);
    page = new Page(executable);
    await page.open(programFile, backend);
    return page;
  };
  await serve({
    describe: async () => ({ ok: true, version: await (await opened()).evaluate('tf.version.tfjs') }),
    count: async (spec) => ({ ok: true, count: await (await opened()).evaluate(`program.count(${JSON.stringify(spec)})`) }),
    run: async (folder) => {
      const manifest = manifestOf(folder);
      const arrays = arraysOf(folder, manifest);
      const { reply, returned } = await (await opened()).evaluate(`runInPage(${JSON.stringify(manifest)}, ${JSON.stringify(arrays)})`);
      for (const [name, { shape, data }] of Object.entries(returned)) writeNpy(path.join(folder, `${name}.npy`), shape, fromBase64(data));
      return reply;
    },
    close: () => page && page.close(),
  });
}

main();
