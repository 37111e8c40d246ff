#!/usr/bin/env python3
"""Import circles in src/, at the level of files and of the crate's top modules, from the
`crate::`/`super::`/`self::` paths each file names (comments skipped). A parent module (mod.rs/
lib.rs) and its direct children are not counted: they name each other by design.
Exit status 1 when any circle exists; `.ci/run` runs it.

"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.relpath(os.path.join(d, f), root)
            files[p] = open(os.path.join(d, f)).read()
def modpath(p):
    parts = p[:-3].split('/')
    if parts[-1] in ('mod', 'lib', 'main'): parts = parts[:-1]
    return parts
mods = {tuple(modpath(p)): p for p in files}
def resolve(path):
    # longest prefix that is a file module
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in mods: return mods[tuple(path[:n])]
pat = re.compile(r'\b(crate|super|self)((?:::[a-z_][a-z0-9_]*)+)')
edges = {p: set() for p in files}
for p, text in files.items():
    text = re.sub(r'//[^\n]*', '', text)  # skip comments / doc links
    me = modpath(p)
    is_dir_mod = p.endswith('mod.rs') or p in ('lib.rs', 'main.rs')
    # use-groups: crate::a::{b, c::d}
    for m in re.finditer(r'\b(crate|super|self)((?:::[a-z_][a-z0-9_]*)*)::\{([^}]*)\}', text):
        base, rest, inner = m.group(1), m.group(2), m.group(3)
        for item in inner.split(','):
            item = item.strip().split(' as ')[0]
            if not item: continue
            segs = [s for s in rest.split('::') if s] + [s for s in item.split('::') if s]
            text += f'\n{base}::' + '::'.join(segs)
    for m in pat.finditer(text):
        base, segs = m.group(1), [s for s in m.group(2).split('::') if s]
        if base == 'crate': path = segs
        elif base == 'self': path = me + segs
        else:
            ups = 1
            while segs and segs[0] == 'super': ups += 1; segs = segs[1:]
            here = me if is_dir_mod else me
            path = here[:len(here) - ups] + segs
        t = resolve(path)
        if t and t != p: edges[p].add(t)
def parent_child(a, b):
    ma, mb = modpath(a), modpath(b)
    return (len(mb) == len(ma) + 1 and mb[:len(ma)] == ma) or (len(ma) == len(mb) + 1 and ma[:len(mb)] == mb) or ma == [] or mb == []
g = {p: {q for q in es if not parent_child(p, q)} for p, es in edges.items()}
# Tarjan
idx, low, st, on, out, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = i[0]; i[0] += 1; st.append(v); on.add(v)
    for w in g[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(sorted(comp))
for v in g:
    if v not in idx: sc(v)
# The same at the level of the crate's top modules (engine, actions, aws, runbook, journal, ...):
# a lower layer never names a higher one.
# A single-file top module (`preflight.rs`) is a top module too; lib.rs and main.rs are not.
top = lambda p: p.split('/')[0] if '/' in p else (None if p in ('lib.rs', 'main.rs') else p[:-3])
tg = {}
for a, es in edges.items():
    for b in es:
        if top(a) and top(b) and top(a) != top(b):
            tg.setdefault(top(a), {}).setdefault(top(b), []).append(f'{a} -> {b}')
for a in sorted(tg):
    for b in sorted(tg[a]):
        if a < b and a in tg.get(b, {}):
            out.append([a, b])
            print(f'circle: {a}/ <-> {b}/')
            for why in tg[a][b] + tg[b][a]: print('  ', why)
for c in out:
    if c[0].endswith('.rs') is False: continue
    print('circle:', ' '.join(c))
    for a in c:
        for b in sorted(g[a]):
            if b in c: print(f'   {a} -> {b}')
print(f'{len(out)} circle(s) among {len(files)} files')
sys.exit(1 if out else 0)
