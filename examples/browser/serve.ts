/**
 * Serves the browser example on localhost: the page, onnxruntime-web's WebAssembly files from
 * node_modules, and a model folder (model.onnx + model.json, see app.js).
 *
 *   node --import tsx examples/browser/serve.ts MODEL_DIR [PORT]
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGE = dirname(fileURLToPath(import.meta.url));
const ORT_DIST = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
/** The onnxruntime-web files the page loads (the WebAssembly build only). */
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

/** The file a URL path maps to, or null (nothing outside the three folders is served). */
function fileFor(urlPath: string, modelDir: string): string | null {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  if (path === '/' || path === '/index.html') return join(PAGE, 'index.html');
  if (path === '/app.js') return join(PAGE, 'app.js');
  if (path.startsWith('/ort/') && ORT_FILES.includes(path.slice(5))) return join(ORT_DIST, path.slice(5));
  if (path.startsWith('/model/')) {
    const file = resolve(modelDir, path.slice(7));
    return file.startsWith(resolve(modelDir) + sep) ? file : null;
  }
  return null;
}

export interface ExampleServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 (port 0 picks a free one). */
export function serveExample(modelDir: string, port = 0): Promise<ExampleServer> {
  const server: Server = createServer((req, res) => {
    const file = fileFor(req.url ?? '/', modelDir);
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      // Cross-origin isolation lets onnxruntime-web use WebAssembly threads.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((done, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      done({
        url: `http://127.0.0.1:${p}/`,
        close: () => new Promise<void>((ok) => server.close(() => ok())),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [modelDir, port] = process.argv.slice(2);
  if (!modelDir) {
    console.error('usage: examples/browser/serve.ts MODEL_DIR [PORT]');
    process.exit(2);
  }
  const { url } = await serveExample(modelDir, port ? Number(port) : 8080);
  console.log(`open ${url} (Ctrl-C stops)`);
}
