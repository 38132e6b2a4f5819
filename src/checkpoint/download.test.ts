/**
 * Checkpoints from URLs, against a local server on loopback (127.0.0.1): the cache (downloaded once,
 * reused), torch.hub's hash-prefix check, redirects, https (with a self-signed certificate made by
 * openssl when it is installed), and failures that leave nothing in the cache.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromFloat32 } from '../io/host_tensor.js';
import { writePth } from '../io/pth.js';
import { writeSafetensors } from '../io/safetensors.js';
import { cachedDownload, DownloadError, hashPrefixOf } from './download.js';
import { openCheckpoint } from './read.js';

const work = mkdtempSync(join(tmpdir(), 'lape-dl-'));
const pth = join(work, 'src.pth');
writePth(
  pth,
  new Map([['model', new Map([['head.weight', fromFloat32([2, 2], Float32Array.of(1, 2, 3, 4))]])]]),
);
const st = join(work, 'src.safetensors');
writeSafetensors(st, new Map([['head.bias', fromFloat32([2], Float32Array.of(5, 6))]]));
const pthBytes = readFileSync(pth);
const sha = createHash('sha256').update(pthBytes).digest('hex');

let hits = 0;
function handler(req: IncomingMessage, res: ServerResponse): void {
  hits++;
  const url = req.url ?? '';
  if (url.startsWith('/redirect/')) {
    res.writeHead(302, { location: `/files/${url.slice('/redirect/'.length)}` });
    res.end();
  } else if (
    url === `/files/model-${sha.slice(0, 8)}.pth` ||
    url === '/files/model.pth' ||
    url === '/files/model-00000000.pth'
  ) {
    res.writeHead(200, { 'content-length': pthBytes.length });
    res.end(pthBytes);
  } else if (url === '/files/weights.safetensors') {
    res.end(readFileSync(st));
  } else if (url === '/files/broken.pth') {
    // Promises the whole file, sends half, hangs up.
    res.writeHead(200, { 'content-length': pthBytes.length });
    res.write(pthBytes.subarray(0, pthBytes.length >> 1));
    setTimeout(() => res.destroy(), 20);
  } else {
    res.writeHead(404);
    res.end('not found');
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(String((server.address() as AddressInfo).port))),
  );
}

const leftovers = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('checkpoints from URLs', () => {
  const server = createServer(handler);
  let base = '';
  before(async () => {
    base = `http://127.0.0.1:${await listen(server)}`;
  });
  after(() => server.close());

  it('downloads into the cache once and reuses the file', async () => {
    const cacheDir = mkdtempSync(join(work, 'cache-'));
    hits = 0;
    const url = `${base}/files/model.pth`;
    const a = await cachedDownload(url, { cacheDir, useTorchCache: false });
    assert.equal(a, join(cacheDir, 'model.pth'));
    assert.deepEqual(readFileSync(a), pthBytes);
    const b = await cachedDownload(url, { cacheDir, useTorchCache: false });
    assert.equal(b, a);
    assert.equal(hits, 1, 'the second call used the cache');
  });

  it("checks torch.hub's hash prefix of the file name, and follows redirects", async () => {
    assert.equal(hashPrefixOf('deit_tiny_patch16_224-a1311bcf.pth'), 'a1311bcf');
    assert.equal(hashPrefixOf('model.pth'), null);
    const cacheDir = mkdtempSync(join(work, 'cache-'));
    const name = `model-${sha.slice(0, 8)}.pth`;
    const path = await cachedDownload(`${base}/redirect/${name}`, { cacheDir, useTorchCache: false });
    assert.equal(path, join(cacheDir, name));
  });

  it('a hash mismatch is a clear error and leaves no file in the cache', async () => {
    const cacheDir = mkdtempSync(join(work, 'cache-'));
    await assert.rejects(
      cachedDownload(`${base}/files/model-00000000.pth`, { cacheDir, useTorchCache: false }),
      (e: unknown) =>
        e instanceof DownloadError &&
        /invalid hash value \(expected "00000000", got "[0-9a-f]{64}"\)/.test(e.message),
    );
    assert.deepEqual(leftovers(cacheDir), []);
  });

  it('a URL that cannot be fetched, or a cut connection, leaves no file in the cache', async () => {
    const cacheDir = mkdtempSync(join(work, 'cache-'));
    await assert.rejects(
      cachedDownload(`${base}/files/missing.pth`, { cacheDir, useTorchCache: false }),
      /missing\.pth: cannot be fetched \(HTTP 404/,
    );
    await assert.rejects(
      cachedDownload(`${base}/files/broken.pth`, { cacheDir, useTorchCache: false }),
      /broken\.pth: download failed/,
    );
    await assert.rejects(
      cachedDownload('http://127.0.0.1:1/x.pth', { cacheDir, useTorchCache: false }),
      /x\.pth: cannot be fetched/,
    );
    await assert.rejects(cachedDownload(`${base}/`, { cacheDir }), /names no file/);
    await assert.rejects(
      cachedDownload('ftp://127.0.0.1/x.pth', { cacheDir }),
      /only http:\/\/ and https:\/\//,
    );
    assert.deepEqual(leftovers(cacheDir), []);
  });

  it('openCheckpoint reads a .pth and a .safetensors named by URL', async () => {
    const cacheDir = mkdtempSync(join(work, 'cache-'));
    const a = await openCheckpoint(`${base}/files/model.pth`, { cacheDir, useTorchCache: false });
    assert.deepEqual([...a.stateDict.keys()], ['head.weight']);
    const b = await openCheckpoint(`${base}/files/weights.safetensors`, { cacheDir, useTorchCache: false });
    assert.equal(b.format, 'safetensors');
    assert.deepEqual([...(b.stateDict.get('head.bias')?.data as Float32Array)], [5, 6]);
  });

  const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
  it(
    'https with a trusted certificate authority',
    { skip: !openssl && 'needs openssl to make a certificate' },
    async () => {
      const key = join(work, 'key.pem');
      const cert = join(work, 'cert.pem');
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { encoding: 'utf8' },
      );
      assert.equal(made.status, 0, made.stderr);
      const tls = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler);
      const port = await listen(tls as unknown as Server);
      try {
        const cacheDir = mkdtempSync(join(work, 'cache-'));
        const url = `https://127.0.0.1:${port}/files/model-${sha.slice(0, 8)}.pth`;
        // Untrusted certificate: a clear error, nothing cached.
        await assert.rejects(cachedDownload(url, { cacheDir, useTorchCache: false }), /cannot be fetched/);
        assert.deepEqual(leftovers(cacheDir), []);
        const path = await cachedDownload(url, { cacheDir, useTorchCache: false, ca: readFileSync(cert) });
        assert.deepEqual(readFileSync(path), pthBytes);
      } finally {
        tls.close();
      }
    },
  );

  it("uses a file already in torch.hub's cache", async () => {
    const torchHome = mkdtempSync(join(work, 'torch-'));
    const old = process.env.TORCH_HOME;
    process.env.TORCH_HOME = torchHome;
    try {
      const dir = join(torchHome, 'hub', 'checkpoints');
      spawnSync('mkdir', ['-p', dir]);
      writeFileSync(join(dir, 'only-there.pth'), pthBytes);
      const path = await cachedDownload(`${base}/files/only-there.pth`, {
        cacheDir: mkdtempSync(join(work, 'cache-')),
      });
      assert.equal(path, join(dir, 'only-there.pth'));
    } finally {
      if (old === undefined) delete process.env.TORCH_HOME;
      else process.env.TORCH_HOME = old;
    }
  });
});
