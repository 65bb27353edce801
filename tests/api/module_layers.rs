//! The top-level modules of `src/` form layers: no module imports one that imports it, directly
//! or through others. Read from the source files, so a new import that closes a cycle fails
//! here, in CI, before anyone has to untangle it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name as `crate::<module>`.
fn imports(source: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut folders = vec![source.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let Ok(relative) = path.strip_prefix(source) else {
                continue;
            };
            let mut parts = relative.components();
            let Some(first) = parts.next() else {
                continue;
            };
            let first = first.as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let named = graph.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or_default();
                for (index, _) in code.match_indices("crate::") {
                    let rest = &code[index + "crate::".len()..];
                    let target: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !target.is_empty() && target != module {
                        named.insert(target);
                    }
                }
            }
        }
    }
    graph
}

/// Every cycle's modules, each cycle once (found from its smallest module).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![vec![start.clone()]];
        while let Some(path) = stack.pop() {
            let Some(last) = path.last() else { continue };
            for next in graph.get(last).into_iter().flatten() {
                if next == start {
                    found.push(path.clone());
                } else if next > start && !path.contains(next) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    found
}

/// Cycles still there, each with why: the test fails on any other, and on one of these once
/// it is gone (so the list only shrinks).
const KNOWN_CYCLES: &[(&[&str], &str)] = &[];

#[test]
fn no_top_level_module_imports_one_that_imports_it() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&source);
    assert!(
        graph.contains_key("ledger") && graph.contains_key("sync"),
        "{graph:?}"
    );
    let mut found = cycles(&graph);
    for (known, why) in KNOWN_CYCLES {
        let position = found.iter().position(|cycle| cycle == known);
        assert!(
            position.is_some(),
            "the known cycle {known:?} is gone ({why}): remove it from KNOWN_CYCLES"
        );
        if let Some(position) = position {
            found.remove(position);
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {}",
        found
            .iter()
            .map(|cycle| format!("{} -> {}", cycle.join(" -> "), cycle[0]))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn a_cycle_through_three_modules_is_found_once() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(module, named)| {
        (
            module.to_string(),
            named.into_iter().map(str::to_string).collect(),
        )
    })
    .collect();
    assert_eq!(cycles(&graph), [["a", "b", "c"]]);
}
