/**
 * The Python values a restricted unpickle produces and the pickle writer accepts: tuples, sets, dicts,
 * allow-listed objects (argparse.Namespace) and global references, next to JS primitives, byte arrays
 * and HostTensors.
 */
import { type HostTensor, isHostTensor } from '../host_tensor.js';

/** A Python tuple (a JS array stands for a Python list). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A Python set or frozenset, as its items. */
export class PySet {
  constructor(
    readonly items: PyValue[],
    readonly frozen: boolean,
  ) {}
}

/**
 * An instance of an allow-listed Python class with plain attributes; in practice `argparse.Namespace`,
 * which the reference training scripts store as `checkpoint['args']`. `attrs` has no prototype, so any
 * attribute name (even `__proto__`) is just a key.
 */
export class PyObject {
  readonly attrs: Record<string, PyValue>;
  constructor(
    /** Qualified class name, e.g. `argparse.Namespace`. */
    readonly className: string,
    attrs: Record<string, PyValue> = {},
  ) {
    this.attrs = Object.assign(Object.create(null) as Record<string, PyValue>, attrs);
  }

  /** An `argparse.Namespace` with these attributes, e.g. the `args` entry of a training checkpoint. */
  static namespace(attrs: Record<string, PyValue>): PyObject {
    return new PyObject('argparse.Namespace', attrs);
  }
}

/** A reference to an allow-listed non-callable global, i.e. a torch dtype such as `torch.float32`. */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The key types a pickled dict may have here. */
export type PyKey = string | number | bigint | boolean | null | PyTuple;

/** A Python dict (or OrderedDict): insertion order is kept. */
export type PyDict = Map<PyKey, PyValue>;

/**
 * A loaded Python value. Python ints are JS numbers, or bigints beyond 2^53; Python floats are numbers,
 * so `1.0` reads as `1` (and is written back as an int). numpy scalars become numbers or booleans,
 * `torch.Size` a PyTuple, bytes a Uint8Array, tensors and parameters a HostTensor.
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyObject
  | PyGlobalRef
  | HostTensor;

export function isPyDict(v: PyValue): v is PyDict {
  return v instanceof Map;
}

/** A short type name for messages (`dict`, `tensor`, `argparse.Namespace` ...). */
export function describeValue(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyObject) return v.className;
  if (v instanceof PyGlobalRef) return v.toString();
  if (v instanceof Uint8Array) return 'bytes';
  if (isHostTensor(v)) return 'tensor';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'number' && !Number.isInteger(v) ? 'float' : 'int';
}
