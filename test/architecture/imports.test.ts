/**
 * The import graph of src/ has no runtime cycles. A cycle between ES modules makes evaluation order
 * matter (one side sees the other half-initialized) and usually says two modules are really one.
 * `import type` is erased by the compiler and cannot create an evaluation cycle, so it is not counted
 * (the one type-level cycle today is Tensor <-> GradFn, a mutually recursive pair of types).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const src = join(root, 'src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Edge {
  to: string;
  /** True when the import survives compilation (not `import type` / only type specifiers). */
  runtime: boolean;
}

/** './x.js' from file f -> the absolute path of x.ts (or x/index.ts); null for packages. */
function resolveSpecifier(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')])
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  throw new Error(`${relative(root, from)}: cannot resolve import '${spec}'`);
}

/** Static imports and re-exports of one file (dynamic `import()` is lazy and cannot form a cycle). */
function importsOf(file: string): Edge[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const edges: Edge[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      const named = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      const to = resolveSpecifier(file, st.moduleSpecifier.text);
      if (to) edges.push({ to, runtime: !typeOnly });
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const named = st.exportClause;
      const typeOnly =
        st.isTypeOnly ||
        (named !== undefined &&
          ts.isNamedExports(named) &&
          named.elements.length > 0 &&
          named.elements.every((e) => e.isTypeOnly));
      const to = resolveSpecifier(file, st.moduleSpecifier.text);
      if (to) edges.push({ to, runtime: !typeOnly });
    }
  }
  return edges;
}

/** Strongly connected components with more than one module (or a self-import), Tarjan's algorithm. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** Each file's runtime imports. */
function graphOf(files: string[]): Map<string, string[]> {
  return new Map(
    files.map((f) => [
      f,
      importsOf(f)
        .filter((e) => e.runtime)
        .map((e) => e.to),
    ]),
  );
}

const show = (sccs: string[][]): string =>
  sccs.map((scc) => scc.map((f) => relative(root, f)).join(' <-> ')).join('\n');

describe('import graph of src/', () => {
  const files = sources(src);

  it('sees the imports it must see (a cycle planted in a copy of the graph is found)', () => {
    const g = graphOf(files);
    assert.ok(files.length > 100, `only ${files.length} source files found`);
    const shape = join(src, 'ops', 'shape.ts');
    const tape = join(src, 'autograd', 'tape.ts');
    assert.ok((g.get(shape) ?? []).includes(tape), 'ops/shape.ts imports autograd/tape.ts');
    const planted = new Map(g);
    planted.set(tape, [...(planted.get(tape) ?? []), shape]);
    assert.ok(
      cycles(planted).some((scc) => scc.includes(tape) && scc.includes(shape)),
      'a planted tape -> shape import closes a cycle',
    );
  });

  it('has no runtime import cycles', () => {
    const found = cycles(graphOf(files));
    assert.equal(found.length, 0, `runtime import cycles:\n${show(found)}`);
  });
});
