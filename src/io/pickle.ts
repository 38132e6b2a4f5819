/**
 * A restricted reader and a writer for Python pickles, as `torch.save` uses them.
 *
 * The reader interprets opcodes of protocols 0 to 5 but never runs anything: a pickle names the callables
 * that rebuild its objects (GLOBAL / STACK_GLOBAL), and here a name resolves only against a fixed
 * allow-list of known-harmless ones (containers, tensor rebuilding, numpy scalars, argparse.Namespace),
 * each re-implemented in TS. Any other name is refused with a CheckpointError before anything is built,
 * which is what `torch.load(weights_only=True)` does, only stricter.
 *
 * The writer emits protocol 2, the protocol torch.save uses, with tensors as persistent ids of storages,
 * and only opcodes that PyTorch 1.13's `weights_only=True` loader accepts, except BINFLOAT (that loader
 * has no float opcode at all, so a pickle holding a Python float loads only without weights_only).
 *
 * The parts, under pickle/: values.ts (the Python value types), opcodes.ts, reader.ts (the interpreter:
 * stack, memo, containers), globals.ts (the allow-list and the internal stack items), rebuild.ts (what
 * each allow-listed callable does: torch tensors and storages, numpy scalars, Namespace objects),
 * writer.ts, and text.ts (byte and text decoding helpers).
 */

export {
  PyGlobalRef,
  PyObject,
  PySet,
  PyTuple,
  type PyDict,
  type PyKey,
  type PyValue,
  isPyDict,
} from './pickle/values.js';
export { type StorageLoader, type StorageRequest } from './pickle/rebuild.js';
export { type UnpickleOptions, unpickle } from './pickle/reader.js';
export { type PickleOptions, type StorageAssigner, pickle } from './pickle/writer.js';
