//! The repository is self-contained: every link in README.md and the documentation resolves
//! to a file inside the repository, so a user who clones it never follows a dead link.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap()
}

/// README.md plus every Markdown file under docs/, deploy/ and examples/.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut dirs: Vec<PathBuf> = ["docs", "deploy", "examples"].iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files
}

/// The targets of inline Markdown links `[text](target)` outside code spans and blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut in_code = false;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '`' => in_code = !in_code,
                ']' if !in_code && chars.get(i + 1) == Some(&'(') => {
                    let rest: String = chars[i + 2..].iter().collect();
                    if let Some(end) = rest.find(')') {
                        targets.push(rest[..end].split_whitespace().next().unwrap_or("").to_owned());
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    targets
}

/// Why a link target leaves the repository or leads nowhere, if it does.
fn broken(root: &Path, file: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") || target.starts_with("//") {
        return Some("points outside the repository".to_owned());
    }
    let path_part = target.split('#').next().unwrap_or("");
    if path_part.is_empty() {
        return None; // an anchor in the same file
    }
    let resolved = file.parent().unwrap().join(path_part);
    match resolved.canonicalize() {
        Ok(p) if p.starts_with(root) => None,
        Ok(p) => Some(format!("resolves to {} outside the repository", p.display())),
        Err(_) => Some(format!("{} does not exist", resolved.display())),
    }
}

#[test]
fn every_documentation_link_resolves_inside_the_repository() {
    let root = repo_root();
    let mut problems = Vec::new();
    for file in markdown_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in link_targets(&text) {
            if let Some(why) = broken(&root, &file, &target) {
                problems.push(format!("{}: ({target}) {why}", file.strip_prefix(&root).unwrap().display()));
            }
        }
        if text.contains("../shared") {
            problems.push(format!("{}: mentions ../shared, which a clone does not have", file.display()));
        }
    }
    assert!(problems.is_empty(), "links that leave the repository:\n{}", problems.join("\n"));
}

#[test]
fn the_link_checker_finds_escaping_external_and_missing_links() {
    let root = repo_root();
    let readme = root.join("README.md");
    let text = "[a](docs/ARCHITECTURE.md) `[b](../x)` [c](../shared/DESIGN.md) [d](https://example.org) [e](#top) [f](docs/nope.md)";
    let targets = link_targets(text);
    assert_eq!(
        targets,
        ["docs/ARCHITECTURE.md", "../shared/DESIGN.md", "https://example.org", "#top", "docs/nope.md"]
    );
    let verdicts: Vec<bool> = targets.iter().map(|t| broken(&root, &readme, t).is_some()).collect();
    assert_eq!(verdicts, [false, true, true, false, true]);
}
