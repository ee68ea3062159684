//! The server's layers as `docs/architecture.md` draws them, checked on the source: the
//! storage crate has no HTTP in it and does not know the server, and within either crate no
//! two modules import each other in a circle, other than a module and its own children.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `a::b` for `src/a/b.rs` or `src/a/b/mod.rs`; `""` for `src/lib.rs`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and string literals (so `crate::x` in a doc or a
/// message is not an import) and without its `#[cfg(test)]` modules (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The modules of `modules` that `code` (of module `here`) names through `crate::` or `super::`.
fn references(here: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("crate::") || w.starts_with("super::"))
        .collect();
    for w in words {
        let mut base: Vec<&str> = if here.is_empty() {
            vec![]
        } else {
            here.split("::").collect()
        };
        let mut rest = w;
        if let Some(r) = rest.strip_prefix("crate::") {
            base.clear();
            rest = r;
        } else {
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
        }
        let mut path = base.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut best = None;
        for seg in rest.split("::").filter(|s| !s.is_empty()) {
            path.push(seg.to_owned());
            let m = path.join("::");
            if modules.contains(&m) {
                best = Some(m);
            } else {
                break;
            }
        }
        if let Some(m) = best {
            out.insert(m);
        }
    }
    out
}

/// Whether `m` is `p` or inside it.
fn within(p: &str, m: &str) -> bool {
    p.is_empty() || m == p || m.starts_with(&format!("{p}::"))
}

/// The child of `p` that holds `m` (`m` strictly inside `p`).
fn child_of(p: &str, m: &str) -> Option<String> {
    if m == p || !within(p, m) {
        return None;
    }
    let rest = if p.is_empty() { m } else { &m[p.len() + 2..] };
    let first = rest.split("::").next()?;
    Some(if p.is_empty() {
        first.to_owned()
    } else {
        format!("{p}::{first}")
    })
}

/// Circles among sibling modules of the crate at `dir`: at every level, the children of one
/// module whose subtrees import each other. A module and its own children may import each
/// other freely (that is how a module and its parts work together).
fn cycles(dir: &Path) -> Vec<Vec<String>> {
    let src = dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut raw: Vec<(String, String)> = Vec::new();
    for f in &files {
        let here = module_of(&src, f);
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for to in references(&here, &code, &modules) {
            if to != here {
                raw.push((here.clone(), to));
            }
        }
    }
    let mut out = Vec::new();
    for p in &modules {
        // Edges between the subtrees of `p`'s children.
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (x, y) in &raw {
            if let (Some(cx), Some(cy)) = (child_of(p, x), child_of(p, y))
                && cx != cy
            {
                edges.entry(cx).or_default().insert(cy);
            }
        }
        let reach = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.to_owned()];
            while let Some(m) = todo.pop() {
                for n in edges.get(&m).into_iter().flatten() {
                    if seen.insert(n.clone()) {
                        todo.push(n.clone());
                    }
                }
            }
            seen
        };
        let mut done = BTreeSet::new();
        for m in edges.keys() {
            if done.contains(m) || !reach(m).contains(m) {
                continue;
            }
            let circle: Vec<String> = edges
                .keys()
                .filter(|n| reach(m).contains(*n) && reach(n).contains(m))
                .cloned()
                .collect();
            done.extend(circle.iter().cloned());
            out.push(circle);
        }
    }
    out
}

fn crate_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

#[test]
fn no_module_imports_another_in_a_circle() {
    for name in ["sidak-server-storage", "sidak-server"] {
        let found = cycles(&crate_dir(name));
        assert!(
            found.is_empty(),
            "{name}: modules that import each other in a circle: {found:?}"
        );
    }
}

#[test]
fn the_storage_crate_has_no_http_and_does_not_know_the_server() {
    let manifest =
        std::fs::read_to_string(crate_dir("sidak-server-storage").join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for forbidden in [
        "axum",
        "tower",
        "hyper",
        "reqwest",
        "sidak-server ",
        "sidak-server.",
    ] {
        assert!(
            !deps.contains(forbidden),
            "sidak-server-storage depends on {forbidden}"
        );
    }
}

#[test]
fn the_checker_sees_a_circle_when_there_is_one() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a; mod b;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "use crate::b::X; // crate::c\nmod kid;\n",
    )
    .unwrap();
    std::fs::write(src.join("a/kid.rs"), "use super::Y;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "fn f() { crate::a::kid::g(); let s = \"crate::a\"; }\n",
    )
    .unwrap();
    let found = cycles(d.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&"a".to_owned()) && found[0].contains(&"b".to_owned()));
    // A module and its own child importing each other is not a circle.
    std::fs::write(src.join("b.rs"), "fn f() {}\n").unwrap();
    assert!(cycles(d.path()).is_empty());
}
