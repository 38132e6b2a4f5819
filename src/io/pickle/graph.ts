/**
 * The last check of an unpickle: the loaded value must be a finite tree or DAG of bounded depth. A
 * pickle can make a container hold itself, or nest containers a million deep through shared memo
 * references; anything that walks such a value afterwards (the writer, a converter, a printer) would
 * loop or overflow its stack. This walk visits each container once (iteratively, so it cannot
 * overflow), refuses cycles, and refuses nesting past the read budget's maxPickleDepth.
 */
import type { ReadBudget } from '../limits.js';
import { PyObject, PySet, PyTuple, type PyValue } from './values.js';

type Container = PyValue[] | Map<unknown, PyValue> | PyTuple | PySet | PyObject;

function isContainer(v: unknown): v is Container {
  return (
    Array.isArray(v) ||
    v instanceof Map ||
    v instanceof PyTuple ||
    v instanceof PySet ||
    v instanceof PyObject
  );
}

function* children(c: Container): Generator<unknown> {
  if (c instanceof Map) {
    for (const [k, v] of c) {
      yield k;
      yield v;
    }
  } else if (c instanceof PyTuple || c instanceof PySet) {
    yield* c.items;
  } else if (c instanceof PyObject) {
    yield* Object.values(c.attrs);
  } else {
    yield* c;
  }
}

interface Frame {
  readonly node: Container;
  readonly next: Generator<unknown>;
  /** Containers below this one on the deepest path found so far. */
  height: number;
}

/** Throws through `fail` when `root` holds a cycle or nests deeper than the budget allows. */
export function checkGraph(root: PyValue, budget: ReadBudget, fail: (problem: string) => never): void {
  if (!isContainer(root)) return;
  const max = budget.limits.maxPickleDepth;
  const height = new Map<Container, number>(); // finished containers
  const onPath = new Set<Container>();
  const path: Frame[] = [{ node: root, next: children(root), height: 0 }];
  onPath.add(root);
  const tooDeep = (): never => fail(`pickle nests containers deeper than ${max} levels (maxPickleDepth)`);
  while (path.length > 0) {
    const top = path[path.length - 1];
    const step = top.next.next();
    if (step.done) {
      path.pop();
      onPath.delete(top.node);
      height.set(top.node, top.height);
      const parent = path[path.length - 1];
      if (parent !== undefined) parent.height = Math.max(parent.height, top.height + 1);
      continue;
    }
    const child = step.value;
    if (!isContainer(child)) continue;
    if (onPath.has(child)) fail('pickle holds a container that contains itself, which lape does not load');
    const h = height.get(child);
    if (h !== undefined) {
      if (path.length + h + 1 > max) tooDeep();
      top.height = Math.max(top.height, h + 1);
      continue;
    }
    if (path.length + 1 > max) tooDeep();
    onPath.add(child);
    path.push({ node: child, next: children(child), height: 0 });
  }
}
