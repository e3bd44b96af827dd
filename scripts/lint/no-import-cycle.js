// An ESLint rule: an import that closes a circle of modules is an error, type-only imports included
// (a circle of types is still a circle of modules a reader must hold in mind at once). The modules'
// imports are read from the files themselves, once per lint run.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/gm;
const importsOf = new Map();

function imports(file) {
  let list = importsOf.get(file);
  if (list) return list;
  list = [];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // Not a file (a directory, a package): it imports nothing we follow.
  }
  for (const m of text.matchAll(IMPORT)) list.push(path.resolve(path.dirname(file), m[1] ?? m[2]));
  importsOf.set(file, list);
  return list;
}

/** The modules from `from` back to `to`, following imports; undefined when there is no way. */
function wayBack(from, to) {
  const prev = new Map([[from, undefined]]);
  const queue = [from];
  while (queue.length > 0) {
    const f = queue.shift();
    if (f === to) {
      const way = [];
      for (let x = f; x !== undefined; x = prev.get(x)) way.unshift(x);
      return way;
    }
    for (const n of imports(f)) {
      if (!prev.has(n)) {
        prev.set(n, f);
        queue.push(n);
      }
    }
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'forbid an import that closes a circle of modules, type-only imports included' },
    messages: { cycle: 'this import closes a circle of modules: {{way}}' },
    schema: [],
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    const check = (node, spec) => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const way = wayBack(path.resolve(path.dirname(file), spec), file);
      if (way) context.report({ node, messageId: 'cycle', data: { way: [file, ...way].map((f) => path.relative(root, f)).join(' → ') } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};
