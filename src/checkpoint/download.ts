/**
 * Checkpoints named by URL, downloaded once into a cache folder and reused, as torch.hub's
 * `load_state_dict_from_url` does (the reference's `--finetune`/`--resume`/`--teacher-path https://...`):
 *
 * - the file is `<cache>/<last path component of the URL>`; a file already there is used as is, and so
 *   is one in torch.hub's own cache (`$TORCH_HOME/hub/checkpoints`), so weights a PyTorch user already
 *   has are not fetched again;
 * - when the file name carries a hash prefix (`name-<hex>.ext`, torch.hub's `-([a-f0-9]*)\.`), the
 *   SHA-256 of the download must start with it;
 * - the download goes to a `.partial` file beside the target and is renamed into place only when it is
 *   complete and checked: a failure, a hash mismatch or an interrupt leaves nothing in the cache.
 *
 * Cache folder: `$LAPE_HOME/hub/checkpoints`, LAPE_HOME defaulting to `$XDG_CACHE_HOME/lape` or
 * `~/.cache/lape`.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

export interface DownloadOptions {
  /** Where downloads are kept (default: `hubCacheDir()`). */
  cacheDir?: string;
  /** Check the hash prefix a file name carries (default true, as the reference's check_hash=True). */
  checkHash?: boolean;
  /** Also look in torch.hub's cache folder before downloading (default true). */
  useTorchCache?: boolean;
  /** Called as bytes arrive; `total` is null when the server does not say. */
  onProgress?: (received: number, total: number | null) => void;
  /** Called once when a download starts (not for a cached file). */
  onStart?: (url: string, target: string) => void;
  /** Extra trusted certificate authorities for https (a private server, or a test's own). */
  ca?: string | Buffer;
  /** Abort the download (the partial file is removed). */
  signal?: AbortSignal;
  /** Give up when no byte arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** An error about a URL: what failed, naming the URL. */
export class DownloadError extends Error {
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(`${url}: ${problem}`);
    this.name = 'DownloadError';
  }
}

export function isUrl(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

export function lapeHome(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return process.env.LAPE_HOME ?? join(xdg && xdg !== '' ? xdg : join(homedir(), '.cache'), 'lape');
}

export function hubCacheDir(): string {
  return join(lapeHome(), 'hub', 'checkpoints');
}

function torchHubCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const torchHome =
    process.env.TORCH_HOME ?? join(xdg && xdg !== '' ? xdg : join(homedir(), '.cache'), 'torch');
  return join(torchHome, 'hub', 'checkpoints');
}

/** torch.hub's HASH_REGEX: the first `-<hex>.` in the file name; null when there is none. */
export function hashPrefixOf(fileName: string): string | null {
  const m = /-([a-f0-9]*)\./.exec(fileName);
  return m ? m[1] : null;
}

/** The cache file name of a URL: its last path component, as torch.hub. */
export function fileNameOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DownloadError(url, 'not a valid URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new DownloadError(url, `only http:// and https:// URLs can be downloaded, not ${u.protocol}`);
  const name = basename(decodeURIComponent(u.pathname));
  if (!name || name === '/' || name === '.' || name === '..')
    throw new DownloadError(
      url,
      'the URL path names no file (it must end in the file name, e.g. .../model-1a2b3c4d.pth)',
    );
  return name;
}

/** Partial files still being written by this process, removed if it exits before finishing them. */
const inFlight = new Set<string>();
let exitHookInstalled = false;
function trackPartial(path: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of inFlight) {
        try {
          unlinkSync(p);
        } catch {
          // already gone
        }
      }
    });
  }
  inFlight.add(path);
}

function removeQuietly(path: string): void {
  inFlight.delete(path);
  try {
    unlinkSync(path);
  } catch {
    // never created, or already gone
  }
}

/** Partial downloads of `name` left by a killed process (untouched for 10 minutes). */
function removeStalePartials(dir: string, name: string): void {
  const cutoff = Date.now() - 10 * 60 * 1000;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`${name}.`) || !f.endsWith('.partial')) continue;
    const p = join(dir, f);
    try {
      if (statSync(p).mtimeMs < cutoff) unlinkSync(p);
    } catch {
      // raced with another process
    }
  }
}

function get(url: string, opts: DownloadOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      u,
      { method: 'GET', headers: { 'user-agent': 'lape' }, ...(opts.ca ? { ca: opts.ca } : {}) },
      resolve,
    );
    req.setTimeout(opts.idleTimeoutMs ?? 60_000, () =>
      req.destroy(new Error(`no response for ${((opts.idleTimeoutMs ?? 60_000) / 1000).toFixed(0)} s`)),
    );
    req.on('error', reject);
    opts.signal?.addEventListener('abort', () => req.destroy(new Error('interrupted')), { once: true });
    req.end();
  });
}

/** Follows up to 5 redirects; resolves with a 200 response. */
async function open(url: string, opts: DownloadOptions): Promise<IncomingMessage> {
  let current = url;
  for (let hop = 0; hop <= 5; hop++) {
    let res: IncomingMessage;
    try {
      res = await get(current, opts);
    } catch (e) {
      throw new DownloadError(url, `cannot be fetched (${(e as Error).message})`);
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current).toString();
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new DownloadError(url, `cannot be fetched (HTTP ${status} ${res.statusMessage ?? ''})`.trimEnd());
    }
    return res;
  }
  throw new DownloadError(url, 'cannot be fetched (more than 5 redirects)');
}

/** Streams `res` into `partial`, hashing it; resolves with the hex SHA-256. */
function save(res: IncomingMessage, partial: string, opts: DownloadOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const header = res.headers['content-length'];
    const total = header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
    let received = 0;
    const out = createWriteStream(partial, { flags: 'wx' });
    let failed = false;
    const fail = (e: Error): void => {
      if (failed) return;
      failed = true;
      res.destroy();
      out.destroy();
      reject(e);
    };
    res.setTimeout(opts.idleTimeoutMs ?? 60_000, () => fail(new Error('the connection stalled')));
    opts.signal?.addEventListener('abort', () => fail(new Error('interrupted')), { once: true });
    res.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      opts.onProgress?.(received, total);
    });
    res.on('error', fail);
    res.on('aborted', () => fail(new Error('the connection was closed early')));
    out.on('error', fail);
    res.pipe(out);
    out.on('finish', () => {
      if (failed) return;
      if (total !== null && received !== total) {
        fail(new Error(`the connection was closed after ${received} of ${total} bytes`));
        return;
      }
      resolve(hash.digest('hex'));
    });
  });
}

/**
 * The local path of `url`'s file: from the cache when it is there, else downloaded into it (checked
 * against the hash prefix of its name). Throws a DownloadError naming the URL; leaves no partial file.
 */
export async function cachedDownload(url: string, opts: DownloadOptions = {}): Promise<string> {
  const name = fileNameOf(url);
  const dir = opts.cacheDir ?? hubCacheDir();
  const target = join(dir, name);
  if (existsSync(target)) return target;
  if (opts.useTorchCache ?? true) {
    const theirs = join(torchHubCacheDir(), name);
    if (existsSync(theirs)) return theirs;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new DownloadError(url, `cannot create the cache folder ${dir} (${(e as Error).message})`);
  }
  removeStalePartials(dir, name);
  const partial = join(dir, `${name}.${randomUUID()}.partial`);
  trackPartial(partial);
  try {
    const res = await open(url, opts);
    opts.onStart?.(url, target);
    let digest: string;
    try {
      digest = await save(res, partial, opts);
    } catch (e) {
      throw new DownloadError(url, `download failed (${(e as Error).message})`);
    }
    const prefix = (opts.checkHash ?? true) ? hashPrefixOf(name) : null;
    if (prefix !== null && !digest.startsWith(prefix)) {
      throw new DownloadError(
        url,
        `invalid hash value (expected "${prefix}", got "${digest}"): the file name promises a SHA-256 starting with ${prefix}; nothing was kept`,
      );
    }
    renameSync(partial, target);
    inFlight.delete(partial);
    return target;
  } finally {
    if (inFlight.has(partial)) removeQuietly(partial);
  }
}
