//! Module graph of `src/`: fails on a module import cycle or a layer back-edge not in the `KNOWN` baseline.
//!
//! Nodes are files (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`); edges are `crate::`, `super::` and
//! `self::` paths outside comments, literals and `#[cfg(test)]` items, each attributed to the longest module
//! prefix that exists. A parent using its own descendants is not an edge (it declares them); a child using an
//! ancestor is. Pure functions take `(module path, file text)` pairs; `src_tree` is the one test that reads files.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Layers, lowest first: a module may use its own layer and the ones before it.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["exit", "protocol", "state", "sys", "topic"]),
    ("config", &["config"]),
    (
        "domain",
        &[
            "auth",
            "lanes",
            "agents",
            "tools",
            "sandbox",
            "cron",
            "net",
            "metrics",
            "lifecycle",
            "logging",
            "memory",
            "channels",
        ],
    ),
    ("runtime", &["actors"]),
    ("edges", &["http", "rpc", "ui"]),
    ("top", &["gateway", "signals", "cli"]),
];

/// Violating edges that existed when this check landed. This list must only shrink: cut an edge in `src/`,
/// then delete its line here (the test says which). Never add to it; fix the new edge instead.
const KNOWN: &[(&str, &str)] = &[];

/// One referencing line: where an edge comes from.
#[derive(Clone, Debug)]
struct Site {
    line: usize,
    text: String,
}

/// from -> to -> the lines that make the edge.
type Graph = BTreeMap<String, BTreeMap<String, Vec<Site>>>;

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Blanks a range with spaces, keeping newlines so that line numbers stay right.
fn blank(c: &mut [char], from: usize, to: usize) {
    let to = to.min(c.len());
    for ch in &mut c[from..to] {
        if *ch != '\n' {
            *ch = ' ';
        }
    }
}

/// The end (exclusive) of the comment or literal starting at `i`, if one starts there.
fn literal_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let find = |from: usize, pat: &dyn Fn(usize) -> bool| (from..c.len()).find(|&k| pat(k)).unwrap_or(c.len());
    match at(i) {
        '/' if at(i + 1) == '/' => Some(find(i, &|k| c[k] == '\n')),
        '/' if at(i + 1) == '*' => {
            let (mut depth, mut k) = (0, i);
            while k < c.len() {
                if at(k) == '/' && at(k + 1) == '*' {
                    depth += 1;
                    k += 2;
                } else if at(k) == '*' && at(k + 1) == '/' {
                    depth -= 1;
                    k += 2;
                    if depth == 0 {
                        return Some(k);
                    }
                } else {
                    k += 1;
                }
            }
            Some(k)
        }
        // Raw strings: r"..", r#".."#, br#".."# (the `b` is left alone; it is harmless).
        'r' if i == 0 || !is_ident(at(i - 1)) || (at(i - 1) == 'b' && (i < 2 || !is_ident(at(i - 2)))) => {
            let hashes = (i + 1..c.len()).take_while(|&k| c[k] == '#').count();
            if at(i + 1 + hashes) != '"' {
                return None;
            }
            let close = |k: usize| c[k] == '"' && (1..=hashes).all(|h| at(k + h) == '#');
            Some(find(i + 2 + hashes, &close) + 1 + hashes)
        }
        '"' => {
            let mut k = i + 1;
            while k < c.len() && c[k] != '"' {
                k += if c[k] == '\\' { 2 } else { 1 };
            }
            Some(k + 1)
        }
        // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
        '\'' if at(i + 1) == '\\' => Some(find(i + 3, &|k| c[k] == '\'') + 1),
        '\'' if at(i + 2) == '\'' => Some(i + 3),
        _ => None,
    }
}

/// The text with comments, literals and `#[cfg(test)]` items blanked: test code may use anything.
fn code_only(text: &str) -> Vec<char> {
    let mut c: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match literal_end(&c, i) {
            Some(end) => {
                blank(&mut c, i, end);
                i = end;
            }
            None => i += 1,
        }
    }
    let attr: Vec<char> = "#[cfg(test)]".chars().collect();
    for start in 0..c.len() {
        if !c[start..].starts_with(&attr) {
            continue;
        }
        // The item ends at a `;` outside brackets or at the `}` closing its first brace.
        let mut depth = 0i32;
        let mut end = c.len();
        for (k, &ch) in c.iter().enumerate().skip(start + attr.len()) {
            match ch {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' => depth -= 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        blank(&mut c, start, end);
    }
    c
}

/// Identifiers, `::` and single punctuation characters, each with its line (1-based).
fn tokens(c: &[char]) -> Vec<(String, usize)> {
    let (mut out, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
        }
        if ch.is_whitespace() {
            i += 1;
        } else if is_ident(ch) {
            let end = (i..c.len()).find(|&k| !is_ident(c[k])).unwrap_or(c.len());
            out.push((c[i..end].iter().collect(), line));
            i = end;
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(("::".into(), line));
            i += 2;
        } else {
            out.push((ch.to_string(), line));
            i += 1;
        }
    }
    out
}

/// Expands the path or use tree at `t[i]` under `prefix` (`a::{b, c::{d, e as f}}`, `a::*`, `a::b::f()`),
/// pushing each full path; returns the index after it.
fn use_tree(t: &[(String, usize)], mut i: usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let tok = |k: usize| t.get(k).map_or("", |x| x.0.as_str());
    loop {
        match tok(i) {
            "{" => {
                i += 1;
                while !matches!(tok(i), "}" | "") {
                    let next = if tok(i) == "," { i + 1 } else { use_tree(t, i, path.clone(), out) };
                    i = next.max(i + 1);
                }
                return i + 1;
            }
            "*" => {
                out.push(path);
                return i + 1;
            }
            s if s.starts_with(is_ident) => {
                if s != "self" {
                    path.push(s.to_string());
                }
                i += 1;
                if tok(i) == "::" {
                    i += 1;
                    continue;
                }
                if tok(i) == "as" {
                    i += 2;
                }
                out.push(path);
                return i;
            }
            _ => {
                out.push(path);
                return i;
            }
        }
    }
}

/// Every module path that `module`'s code refers to, with its line, resolved to absolute segments.
fn references(module: &str, text: &str) -> Vec<(Vec<String>, usize)> {
    let here: Vec<String> = module.split("::").map(String::from).collect();
    let t = tokens(&code_only(text));
    let tok = |k: usize| t.get(k).map_or("", |x| x.0.as_str());
    let (mut out, mut i) = (Vec::new(), 0);
    while i < t.len() {
        let starts_path = tok(i + 1) == "::" && (i == 0 || tok(i - 1) != "::");
        let base = match tok(i) {
            "crate" if starts_path => Some((vec![], i + 2)),
            "self" if starts_path => Some((here.clone(), i + 2)),
            "super" if starts_path => {
                let mut ups = 0;
                while tok(i + 2 * ups) == "super" && tok(i + 2 * ups + 1) == "::" {
                    ups += 1;
                }
                (ups <= here.len()).then(|| (here[..here.len() - ups].to_vec(), i + 2 * ups))
            }
            _ => None,
        };
        let Some((prefix, start)) = base else {
            i += 1;
            continue;
        };
        let mut paths = Vec::new();
        let end = use_tree(&t, start, prefix, &mut paths);
        out.extend(paths.into_iter().map(|p| (p, t[i].1)));
        i = end.max(i + 1);
    }
    out
}

/// The import graph over the given modules.
fn graph(sources: &[(String, String)]) -> Graph {
    let modules: BTreeSet<&str> = sources.iter().map(|(m, _)| m.as_str()).collect();
    let mut g = Graph::new();
    for (from, text) in sources {
        let edges = g.entry(from.clone()).or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (path, line) in references(from, text) {
            let Some(to) = (1..=path.len()).rev().map(|k| path[..k].join("::")).find(|p| modules.contains(p.as_str()))
            else {
                continue;
            };
            // Itself or its own descendant: the parent declares those, so no import edge.
            if to == *from || to.starts_with(&format!("{from}::")) {
                continue;
            }
            let text = lines.get(line - 1).map_or("", |l| l.trim()).to_string();
            let sites = edges.entry(to).or_default();
            // `use crate::a::{self, B}` names `a` twice on one line: one site is enough.
            if sites.last().is_none_or(|s| s.line != line) {
                sites.push(Site { line, text });
            }
        }
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &Graph, skip: &BTreeSet<(&str, &str)>) -> Vec<Vec<String>> {
    struct Tarjan {
        adj: Vec<Vec<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut Tarjan, v: usize) {
        (t.index[v], t.low[v], t.on_stack[v]) = (Some(t.next), t.next, true);
        t.next += 1;
        t.stack.push(v);
        for w in t.adj[v].clone() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(i) if t.on_stack[w] => t.low[v] = t.low[v].min(i),
                _ => {}
            }
        }
        if t.index[v] == Some(t.low[v]) {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on_stack[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let names: Vec<&String> = g.keys().collect();
    let id = |m: &str| names.iter().position(|n| n.as_str() == m);
    let adj = g
        .iter()
        .map(|(a, tos)| {
            tos.keys().filter(|b| !skip.contains(&(a.as_str(), b.as_str()))).filter_map(|b| id(b)).collect()
        })
        .collect();
    let n = names.len();
    let mut t = Tarjan {
        adj,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: vec![],
        next: 0,
        out: vec![],
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    let mut out: Vec<Vec<String>> = t
        .out
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut c: Vec<String> = c.into_iter().map(|v| names[v].clone()).collect();
            c.sort();
            c
        })
        .collect();
    out.sort();
    out
}

/// A shortest cycle through `comp[0]` inside the component, as a list of modules (first repeated at the end).
fn shortest_cycle(g: &Graph, comp: &[String], skip: &BTreeSet<(&str, &str)>) -> Vec<String> {
    let inside: BTreeSet<&str> = comp.iter().map(String::as_str).collect();
    let start = comp[0].as_str();
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in g[v].keys().map(String::as_str) {
            if !inside.contains(w) || skip.contains(&(v, w)) {
                continue;
            }
            if w == start {
                let mut path = vec![start.to_string()];
                let mut at = v;
                while at != start {
                    path.push(at.to_string());
                    at = parent[at];
                }
                path.push(start.to_string());
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    comp.to_vec()
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or(module);
    LAYERS.iter().position(|(_, mods)| mods.contains(&top))
}

/// Problems in the graph of `sources`, given the baseline; `label` turns a module path into a file name.
fn check(sources: &[(String, String)], known: &[(&str, &str)], label: &dyn Fn(&str) -> String) -> Vec<String> {
    let g = graph(sources);
    let skip: BTreeSet<(&str, &str)> = known.iter().copied().collect();
    let sites = |a: &str, b: &str| {
        let s = &g[a][b];
        let mut out: String = s.iter().take(3).map(|s| format!("\n    {}:{}: {}", label(a), s.line, s.text)).collect();
        if s.len() > 3 {
            out += &format!("\n    ... and {} more", s.len() - 3);
        }
        out
    };
    let mut problems = Vec::new();
    for m in g.keys().filter(|m| layer_of(m).is_none()) {
        let top = m.split("::").next().unwrap_or(m);
        problems.push(format!("add module {top} to the layer table in tests/module_graph.rs ({m})"));
    }
    for (a, tos) in &g {
        for b in tos.keys() {
            let (Some(la), Some(lb)) = (layer_of(a), layer_of(b)) else { continue };
            if la < lb && !skip.contains(&(a.as_str(), b.as_str())) {
                let (na, nb) = (LAYERS[la].0, LAYERS[lb].0);
                problems.push(format!(
                    "back-edge {a} ({na}) -> {b} ({nb}): a lower layer may not use a higher one{}",
                    sites(a, b)
                ));
            }
        }
    }
    for (a, b) in known {
        if !g.get(*a).is_some_and(|tos| tos.contains_key(*b)) {
            problems.push(format!("remove ({a:?}, {b:?}) from KNOWN: it is fixed"));
        }
    }
    for comp in cycles(&g, &skip) {
        let path = shortest_cycle(&g, &comp, &skip);
        let mut msg = format!("module cycle among {}; cut one edge of {}:", comp.join(", "), path.join(" -> "));
        for w in path.windows(2) {
            msg += &format!("\n  {} -> {}{}", w[0], w[1], sites(&w[0], &w[1]));
        }
        problems.push(msg);
    }
    problems
}

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `a::b`; `lib.rs` and `main.rs` are the root, not modules.
fn read_src(dir: &Path, src: &Path, out: &mut Vec<(String, String, String)>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            read_src(&path, src, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src).expect("under src").with_extension("");
        let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if segs.last().is_some_and(|s| s == "mod") {
            segs.pop();
        }
        if segs == ["lib"] || segs == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source file");
        out.push((segs.join("::"), format!("src/{}", path.strip_prefix(src).unwrap().display()), text));
    }
}

#[test]
fn src_tree() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_src(&src, &src, &mut files);
    let labels: BTreeMap<String, String> = files.iter().map(|(m, f, _)| (m.clone(), f.clone())).collect();
    let sources: Vec<(String, String)> = files.into_iter().map(|(m, _, t)| (m, t)).collect();
    let g = graph(&sources);
    println!(
        "{} modules, {} edges, {} known; cycles with KNOWN included: {:?}",
        g.len(),
        g.values().map(BTreeMap::len).sum::<usize>(),
        KNOWN.len(),
        cycles(&g, &BTreeSet::new())
    );
    let problems = check(&sources, KNOWN, &|m| labels.get(m).cloned().unwrap_or_else(|| m.to_string()));
    assert!(problems.is_empty(), "module graph check failed:\n\n{}\n", problems.join("\n\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srcs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect()
    }

    fn refs(module: &str, text: &str) -> Vec<String> {
        references(module, text).into_iter().map(|(p, _)| p.join("::")).collect()
    }

    fn run(pairs: &[(&str, &str)], known: &[(&str, &str)]) -> Vec<String> {
        check(&srcs(pairs), known, &|m| m.to_string())
    }

    #[test]
    fn nested_use_groups_expand() {
        let text = "use crate::a::{b, c::{d, e::{self, F as G}}, h::*};\nuse crate::{x, y::z};";
        assert_eq!(refs("m", text), ["a::b", "a::c::d", "a::c::e", "a::c::e::F", "a::h", "x", "y::z"]);
    }

    #[test]
    fn inline_paths_and_lines() {
        let text = "fn f() {\n    let v = crate::x::y::f::<u8>(1);\n    g(crate::z::K);\n}";
        let got: Vec<_> = references("m", text).into_iter().map(|(p, l)| (p.join("::"), l)).collect();
        assert_eq!(got, [("x::y::f".to_string(), 2), ("z::K".to_string(), 3)]);
    }

    #[test]
    fn super_and_self_resolve_from_the_module() {
        assert_eq!(refs("actors::session", "use super::hub::Push;"), ["actors::hub::Push"]);
        assert_eq!(refs("actors::session", "let x = super::super::exit::OK;"), ["exit::OK"]);
        assert_eq!(refs("config::load", "use super::{Config, env::{self}};"), ["config::Config", "config::env"]);
        assert_eq!(refs("a", "use self::b::C;"), ["a::b::C"]);
    }

    #[test]
    fn comments_literals_and_cfg_test_are_ignored() {
        let text = r##"
//! see `crate::doc`
/* crate::block /* nested */ crate::block2 */
const S: &str = "crate::string \" crate::escaped";
const R: &str = r#"crate::raw "quoted""#;
const C: char = '"'; fn f<'a>(x: &'a str) { crate::real::f(x) }
#[cfg(test)]
use crate::test_use;
#[cfg(test)]
fn helper() { if true { crate::helper_only::f() } }
#[cfg(test)]
mod tests { use crate::tests_only; }
pub fn after() { crate::after::g() }
"##;
        assert_eq!(refs("m", text), ["real::f", "after::g"]);
    }

    #[test]
    fn edges_child_to_parent_count_parent_to_child_do_not() {
        let g = graph(&srcs(&[("a", "pub mod b; use crate::a::b::X; use self::b::Y;"), ("a::b", "use super::Z;")]));
        assert!(g["a"].is_empty());
        assert_eq!(g["a::b"].keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(g["a::b"]["a"][0].line, 1);
    }

    #[test]
    fn longest_existing_prefix_is_the_target() {
        let g = graph(&srcs(&[("m", "use crate::a::b::c::D; use crate::a::E;"), ("a", ""), ("a::b", "")]));
        assert_eq!(g["m"].keys().collect::<Vec<_>>(), ["a", "a::b"]);
    }

    #[test]
    fn clean_tree_passes() {
        assert!(run(&[("exit", ""), ("config", "use crate::exit;"), ("cli", "use crate::config;")], &[]).is_empty());
    }

    #[test]
    fn planted_two_cycle_is_found_with_its_lines() {
        let p = run(&[("auth", "use crate::lanes::Lane;"), ("lanes", "\nfn f() { crate::auth::check() }")], &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("module cycle among auth, lanes; cut one edge of auth -> lanes -> auth"), "{}", p[0]);
        assert!(p[0].contains("lanes:2: fn f() { crate::auth::check() }"), "{}", p[0]);
        // A KNOWN edge explains the cycle away.
        assert!(
            run(&[("auth", "use crate::lanes::Lane;"), ("lanes", "use crate::auth;")], &[("lanes", "auth")]).is_empty()
        );
    }

    #[test]
    fn planted_back_edge_is_found() {
        let p = run(&[("exit", "use crate::cli::Cli;"), ("cli", "")], &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("back-edge exit (base) -> cli (top)"), "{}", p[0]);
        assert!(run(&[("exit", "use crate::cli::Cli;"), ("cli", "")], &[("exit", "cli")]).is_empty());
    }

    #[test]
    fn stale_known_entry_is_reported() {
        let p = run(&[("exit", ""), ("cli", "use crate::exit;")], &[("exit", "cli")]);
        assert_eq!(p, [r#"remove ("exit", "cli") from KNOWN: it is fixed"#]);
    }

    #[test]
    fn module_outside_the_layer_table_is_reported() {
        let p = run(&[("exit", ""), ("newthing::x", "use crate::exit;")], &[]);
        assert_eq!(p, ["add module newthing to the layer table in tests/module_graph.rs (newthing::x)"]);
    }

    #[test]
    fn cycles_inside_one_layer_count() {
        let p = run(&[("actors::a", "use super::b::X;"), ("actors::b", "use crate::actors::a;")], &[]);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("module cycle among actors::a, actors::b"), "{}", p[0]);
    }
}
