//! The layering check: reads every `src/**/*.rs`, builds the map of which
//! top-level module names which (`crate::x…` paths, `use crate::{…}` groups,
//! crate-root macros), and fails on a circle or on an arrow that runs
//! against the layer order declared in docs/architecture.md (between the
//! `layers:begin` and `layers:end` markers). `scripts/layers.sh` prints the
//! map; see docs/architecture.md "Layers".
//!
//! Std only, no parser crate: comments and string literals are blanked out
//! first, so a path in a doc comment or a message is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One arrow of the map, with the first place that draws it.
#[derive(Debug, Clone)]
struct Evidence {
    file: String,
    line: usize,
    path: String,
    count: usize,
}

/// The module-level import map: `from -> to -> evidence`.
#[derive(Debug, Default)]
struct ImportMap {
    modules: BTreeSet<String>,
    edges: BTreeMap<String, BTreeMap<String, Evidence>>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments and the contents of string and char literals
/// replaced by spaces (newlines kept, so line numbers still hold).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || c == 'b')
            && !b[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && raw_string_start(&b, i).is_some()
        {
            let (hashes, body) = raw_string_start(&b, i).expect("checked above");
            for ch in &b[i..body] {
                out.push(*ch);
            }
            i = body;
            loop {
                if i >= b.len() {
                    break;
                }
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                out.push('\'');
                i += 1;
                while i < b.len() && b[i] != '\'' {
                    if b[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    out.push(' ');
                    i += 1;
                }
                out.push('\'');
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `r"`, `r#"`, `br"`, `br#"`: the number of hashes and where the body starts.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == 'b' {
        j += 1;
    }
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while b.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

fn ident_at(b: &[char], mut i: usize) -> (String, usize) {
    let mut s = String::new();
    while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
        s.push(b[i]);
        i += 1;
    }
    (s, i)
}

fn skip_ws(b: &[char], mut i: usize) -> usize {
    while i < b.len() && b[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The first segments named after `crate::` at `i` (one, or one per item of
/// a `{…}` group), with the text of the path for the evidence.
fn targets_at(b: &[char], i: usize) -> (Vec<String>, String) {
    let i = skip_ws(b, i);
    if b.get(i) == Some(&'{') {
        let mut depth = 0;
        let mut j = i;
        let mut names = Vec::new();
        let mut expect_item = true;
        while j < b.len() {
            match b[j] {
                '{' => {
                    depth += 1;
                    expect_item = depth == 1;
                    j += 1;
                }
                '}' => {
                    depth -= 1;
                    j += 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' => {
                    expect_item = depth == 1;
                    j += 1;
                }
                c if (c.is_alphanumeric() || c == '_') && expect_item => {
                    let (name, end) = ident_at(b, j);
                    names.push(name);
                    expect_item = false;
                    j = end;
                }
                _ => j += 1,
            }
        }
        let text: String = b[i..j.min(b.len())].iter().collect();
        (names, text.split_whitespace().collect::<Vec<_>>().join(" "))
    } else {
        let (name, end) = ident_at(b, i);
        let mut k = end;
        while k + 1 < b.len() && b[k] == ':' && b[k + 1] == ':' {
            let (_, e) = ident_at(b, k + 2);
            if e == k + 2 {
                break;
            }
            k = e;
        }
        let text: String = b[i..k].iter().collect();
        (vec![name], text)
    }
}

/// The top-level module a file belongs to (`src/store/sqlite/jobs.rs` →
/// `store`); `None` for the crate root and the binary.
fn top_module(src_dir: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src_dir).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        _ => Some(first.trim_end_matches(".rs").to_string()),
    }
}

fn build_map() -> ImportMap {
    let root = repo_root();
    let src_dir = root.join("src");
    let mut files = Vec::new();
    rust_files(&src_dir, &mut files);

    let mut map = ImportMap::default();
    let mut texts = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let code = code_only(&text);
        if let Some(module) = top_module(&src_dir, file) {
            map.modules.insert(module.clone());
            texts.push((file.clone(), module, code));
        }
    }
    // `#[macro_export]` macros live at the crate root; charge a use of one
    // to the module that defines it.
    let mut macros = BTreeMap::new();
    for (_, module, code) in &texts {
        for (pos, _) in code.match_indices("macro_rules!") {
            let b: Vec<char> = code[pos + "macro_rules!".len()..].chars().collect();
            let (name, _) = ident_at(&b, skip_ws(&b, 0));
            macros.insert(name, module.clone());
        }
    }

    for (file, module, code) in &texts {
        let rel = file
            .strip_prefix(&root)
            .expect("under the repo")
            .display()
            .to_string();
        let b: Vec<char> = code.chars().collect();
        let mut line = 1;
        let mut i = 0;
        while i < b.len() {
            if b[i] == '\n' {
                line += 1;
            }
            let at_crate = b[i] == 'c'
                && b[i..].starts_with(&['c', 'r', 'a', 't', 'e', ':', ':'])
                && !(i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_' || b[i - 1] == '$'));
            if at_crate {
                let (names, text) = targets_at(&b, i + "crate::".len());
                for name in names {
                    let target = if map.modules.contains(&name) {
                        name
                    } else if let Some(m) = macros.get(&name) {
                        m.clone()
                    } else {
                        continue; // an item of the crate root itself
                    };
                    if &target == module {
                        continue;
                    }
                    let edge = map
                        .edges
                        .entry(module.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| Evidence {
                            file: rel.clone(),
                            line,
                            path: format!("crate::{text}"),
                            count: 0,
                        });
                    edge.count += 1;
                }
                i += "crate::".len();
                continue;
            }
            i += 1;
        }
    }
    map
}

impl ImportMap {
    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(|m| m.keys())
    }

    /// Strongly connected components with more than one module (Tarjan).
    fn circles(&self) -> Vec<Vec<String>> {
        struct Tarjan<'a> {
            map: &'a ImportMap,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            on_stack: BTreeSet<&'a str>,
            next: usize,
            out: Vec<Vec<String>>,
        }
        impl<'a> Tarjan<'a> {
            fn visit(&mut self, v: &'a str) {
                self.index.insert(v, self.next);
                self.low.insert(v, self.next);
                self.next += 1;
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in self.map.targets(v) {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(iw);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut scc = Vec::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        scc.push(w.to_string());
                        if w == v {
                            break;
                        }
                    }
                    if scc.len() > 1 {
                        scc.sort();
                        self.out.push(scc);
                    }
                }
            }
        }
        let mut t = Tarjan {
            map: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            next: 0,
            out: Vec::new(),
        };
        for m in &self.modules {
            if !t.index.contains_key(m.as_str()) {
                t.visit(m);
            }
        }
        t.out.sort();
        t.out
    }

    /// Every elementary circle (each listed once, starting at its smallest
    /// module), up to `limit`.
    fn elementary_circles(&self, limit: usize) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let nodes: Vec<&String> = self.modules.iter().collect();
        for (si, start) in nodes.iter().enumerate() {
            let allowed: BTreeSet<&str> = nodes[si..].iter().map(|s| s.as_str()).collect();
            let mut path = vec![start.as_str()];
            self.circles_from(start, &allowed, &mut path, &mut out, limit);
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    fn circles_from<'a>(
        &'a self,
        start: &str,
        allowed: &BTreeSet<&str>,
        path: &mut Vec<&'a str>,
        out: &mut Vec<Vec<String>>,
        limit: usize,
    ) {
        let last = *path.last().expect("never empty");
        for w in self.targets(last) {
            if out.len() >= limit {
                return;
            }
            if w == start {
                out.push(path.iter().map(|s| s.to_string()).collect());
            } else if allowed.contains(w.as_str()) && !path.contains(&w.as_str()) {
                path.push(w);
                self.circles_from(start, allowed, path, out, limit);
                path.pop();
            }
        }
    }

    fn render(&self, layers: Option<&Layers>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "import map ({} modules):", self.modules.len());
        let mut order: Vec<&String> = self.modules.iter().collect();
        if let Some(l) = layers {
            order.sort_by_key(|m| (l.of.get(m.as_str()).copied().unwrap_or(usize::MAX), *m));
        }
        for m in order {
            let tag = layers
                .and_then(|l| l.of.get(m.as_str()))
                .map(|n| format!("[{n}] "))
                .unwrap_or_default();
            let to: Vec<&str> = self.targets(m).map(|s| s.as_str()).collect();
            let _ = writeln!(s, "  {tag}{m} -> {}", to.join(", "));
        }
        s
    }
}

/// The declared layer order: `of[module] = layer number`, 0 the bottom.
#[derive(Debug)]
struct Layers {
    of: BTreeMap<String, usize>,
}

/// Reads the `layers:begin` … `layers:end` block of docs/architecture.md:
/// one layer per line, `N. name: module, module, …`, lowest first.
fn declared_layers() -> Layers {
    let doc = std::fs::read_to_string(repo_root().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let block = doc
        .split("<!-- layers:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- layers:end -->").next())
        .expect("docs/architecture.md has a <!-- layers:begin --> … <!-- layers:end --> block");
    let mut of = BTreeMap::new();
    for line in block.lines() {
        let line = line.trim().trim_start_matches('|').trim();
        let Some((number, rest)) = line.split_once('.') else {
            continue;
        };
        let Ok(number) = number.trim().parse::<usize>() else {
            continue;
        };
        let modules = rest.split_once(':').map(|(_, m)| m).unwrap_or("");
        for m in modules.split(',') {
            let m = m.trim().trim_matches('`').trim();
            if !m.is_empty() {
                let before = of.insert(m.to_string(), number);
                assert!(before.is_none(), "{m} is declared in two layers");
            }
        }
    }
    assert!(!of.is_empty(), "the layers block declares no module");
    Layers { of }
}

/// Everything wrong with the map against the declared layers, one line each.
fn violations(map: &ImportMap, layers: &Layers) -> Vec<String> {
    let mut out = Vec::new();
    for m in &map.modules {
        if !layers.of.contains_key(m) {
            out.push(format!(
                "module `{m}` is in no layer: add it to the layers block of docs/architecture.md"
            ));
        }
    }
    for m in layers.of.keys() {
        if !map.modules.contains(m) {
            out.push(format!(
                "docs/architecture.md declares `{m}`, which is no module of src/"
            ));
        }
    }
    for (from, tos) in &map.edges {
        for (to, ev) in tos {
            let (Some(lf), Some(lt)) = (layers.of.get(from), layers.of.get(to)) else {
                continue;
            };
            if lt > lf {
                out.push(format!(
                    "back-arrow: `{from}` (layer {lf}) imports `{to}` (layer {lt}) at {}:{}: {}{}",
                    ev.file,
                    ev.line,
                    ev.path,
                    if ev.count > 1 {
                        format!(" (and {} more)", ev.count - 1)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    for scc in map.circles() {
        let members: BTreeSet<&str> = scc.iter().map(|s| s.as_str()).collect();
        let mut arrows = Vec::new();
        for from in &scc {
            for (to, ev) in map.edges.get(from).into_iter().flatten() {
                if members.contains(to.as_str()) {
                    arrows.push(format!("{from} -> {to} ({}:{})", ev.file, ev.line));
                }
            }
        }
        out.push(format!(
            "circle: {} — arrows: {}",
            scc.join(", "),
            arrows.join("; ")
        ));
    }
    out
}

/// Prints the map, its circles and the arrows against the declared order;
/// `scripts/layers.sh` runs this with the output shown. Never fails.
#[test]
fn layers_print_import_map() {
    let map = build_map();
    let layers = std::panic::catch_unwind(declared_layers).ok();
    println!("{}", map.render(layers.as_ref()));
    let circles = map.elementary_circles(10_000);
    let sccs = map.circles();
    println!(
        "strongly connected groups (modules that reach each other): {}",
        sccs.len()
    );
    for scc in &sccs {
        println!("  {{{}}}", scc.join(", "));
    }
    println!("elementary circles: {}", circles.len());
    for c in circles.iter().take(200) {
        println!("  {} -> {}", c.join(" -> "), c[0]);
    }
    if let Some(layers) = &layers {
        let v = violations(&map, layers);
        println!("violations against docs/architecture.md: {}", v.len());
        for line in v {
            println!("  {line}");
        }
    }
}

/// The rule: no circle between top-level modules and no arrow from a lower
/// layer to a higher one, against the order in docs/architecture.md.
#[test]
fn layers_import_map_points_one_way() {
    let map = build_map();
    let layers = declared_layers();
    let v = violations(&map, &layers);
    assert!(
        v.is_empty(),
        "the import map breaks the layer order of docs/architecture.md:\n  {}\n\n{}",
        v.join("\n  "),
        map.render(Some(&layers))
    );
}

#[test]
fn layers_analyzer_reads_groups_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{a::X, b::{c, d}, e};\n// crate::f\nlet s = \"crate::g\"; /* crate::h */ let r = r#\"crate::i\"#;\nlet c = '\"'; crate::j::k();\n",
    );
    let b: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    for (pos, _) in code.match_indices("crate::") {
        let at = code[..pos].chars().count() + "crate::".len();
        found.extend(targets_at(&b, at).0);
    }
    assert_eq!(found, ["a", "b", "e", "j"]);
}
