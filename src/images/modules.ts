/**
 * Kernel module selection for a busybox initramfs. busybox insmod does not
 * resolve dependencies, so the load order is computed here from depmod's
 * modules.dep (format: "path/a.ko: path/dep1.ko path/dep2.ko", every
 * dependency listed, see depmod(8) / modules.dep(5)).
 */

export interface ModuleIndex {
  /** module name (dashes normalised to underscores) -> path relative to /lib/modules/<kver>/ */
  path: Map<string, string>;
  /** module name -> names it depends on */
  deps: Map<string, string[]>;
  /** modules compiled into the kernel: need no file and no insmod */
  builtin: Set<string>;
}

export function moduleName(p: string): string {
  const base = p.split('/').pop() ?? p;
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export function parseModulesDep(dep: string, builtinText = ''): ModuleIndex {
  const idx: ModuleIndex = { path: new Map(), deps: new Map(), builtin: new Set() };
  for (const raw of dep.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    const name = moduleName(file);
    idx.path.set(name, file);
    idx.deps.set(
      name,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(moduleName),
    );
  }
  for (const raw of builtinText.split('\n')) {
    const line = raw.trim();
    if (line) idx.builtin.add(moduleName(line));
  }
  return idx;
}

/**
 * The wanted modules plus everything they need, dependencies first, each
 * once. Built-in modules are dropped; an unknown module is an error naming it.
 */
export function loadOrder(idx: ModuleIndex, wanted: string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    const n = name.replace(/-/g, '_');
    if (idx.builtin.has(n) && !idx.path.has(n)) return;
    const s = state.get(n);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`module dependency cycle: ${[...chain, n].join(' -> ')}`);
    if (!idx.path.has(n)) {
      throw new Error(`kernel module ${n} not found in modules.dep${chain.length ? ` (needed by ${chain[chain.length - 1]})` : ''}`);
    }
    state.set(n, 'visiting');
    for (const d of idx.deps.get(n) ?? []) visit(d, [...chain, n]);
    state.set(n, 'done');
    order.push(n);
  };
  for (const w of wanted) visit(w, []);
  return order;
}
