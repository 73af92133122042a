//! What the project's documents cite, checked against the tree: every inline code span of a
//! Markdown document (fenced blocks left out) is read for
//!
//! - **paths**: a word whose first segment is a top-level entry of the workspace (`shared/…`,
//!   `tests/tests/…rs`, `cli/…`, `infra/…`; `*` matches within a segment, a trailing `/` names a
//!   folder), and any word ending in `.rs` (`lake_keys.rs`, `manifest/plan.rs`), which must end
//!   the path of a Rust file;
//! - **modules**: `a::b::…` paths of our crates (not of a dependency of the workspace): the
//!   module chain must be a file (`a/b.rs` or `a/b/mod.rs`, or `a.rs` defining `fn b`), a test
//!   module after it (`tests`, `bounds_tests`) must be declared in it, and a type after it
//!   defined in it;
//! - **test names**: a snake_case name (alone, or a segment of a module path) with at least
//!   [`TEST_NAME_UNDERSCORES`] underscores must be a `fn` of a workspace `.rs` file or an entry
//!   (`name: …`) of a macro invocation that generates tests.
//!
//! Placeholders (`<N>`, `{…}`, `$X`, `…`) are not checked. The walk leaves out hidden entries
//! and the top-level entries `.gitignore` names (`/target`, `/dist`).

use std::collections::HashSet;
use std::fs;
use std::path::Path;

/// Underscores that make a cited snake_case name a test name (`a_second_apply_writes_nothing`
/// has four); field and setting names (`target_file_size_bytes`) have fewer.
pub const TEST_NAME_UNDERSCORES: usize = 4;

/// An inline code span of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSpan {
    /// 1-based line where it opens.
    pub line: usize,
    /// Its text, a line break inside it read as a space.
    pub text: String,
}

/// The inline code spans of a Markdown text, fenced code blocks left out. A backtick left open
/// at a blank line is literal text.
pub fn code_spans(markdown: &str) -> Vec<CodeSpan> {
    let mut spans = Vec::new();
    let mut open: Option<CodeSpan> = None;
    let mut fenced = false;
    for (index, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            open = None;
            continue;
        }
        if fenced || line.trim().is_empty() {
            open = None;
            continue;
        }
        for (piece_index, piece) in line.split('`').enumerate() {
            if piece_index > 0 {
                match open.take() {
                    Some(span) => spans.push(span),
                    None => {
                        open = Some(CodeSpan {
                            line: index + 1,
                            text: String::new(),
                        })
                    }
                }
            } else if let Some(span) = open.as_mut() {
                span.text.push(' ');
            }
            if let Some(span) = open.as_mut() {
                span.text.push_str(piece);
            }
        }
    }
    spans
}

/// The workspace as the documents may cite it: its paths, Rust sources and the names they
/// define.
pub struct Tree {
    /// Files and folders, relative and `/`-separated (folders without a trailing `/`).
    paths: Vec<String>,
    /// Folders among `paths`.
    folders: HashSet<String>,
    /// First segments of `paths`.
    top_level: HashSet<String>,
    /// `(path, text)` of every `.rs` file.
    sources: Vec<(String, String)>,
    /// Names defined by `fn` or by a test-generating macro's entries.
    functions: HashSet<String>,
    /// The workspace's dependencies (as Rust names) and the standard crates.
    external_crates: HashSet<String>,
}

impl Tree {
    /// Reads the workspace at `root`.
    pub fn scan(root: &Path) -> Tree {
        let ignored = ignored_top_level(root);
        let mut tree = Tree {
            paths: Vec::new(),
            folders: HashSet::new(),
            top_level: HashSet::new(),
            sources: Vec::new(),
            functions: HashSet::new(),
            external_crates: external_crates(root),
        };
        tree.walk(root, "", &ignored);
        for (_, text) in &tree.sources {
            tree.functions.extend(defined_functions(text));
            tree.functions.extend(macro_entries(text));
        }
        tree
    }

    fn walk(&mut self, folder: &Path, relative: &str, ignored: &HashSet<String>) {
        let entries = fs::read_dir(folder).unwrap_or_else(|e| panic!("list {folder:?}: {e}"));
        for entry in entries {
            let entry = entry.expect("a folder entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (relative.is_empty() && ignored.contains(&name)) {
                continue;
            }
            let path = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            let kind = entry.file_type().expect("an entry type");
            if relative.is_empty() {
                self.top_level.insert(name.clone());
            }
            if kind.is_dir() {
                self.folders.insert(path.clone());
                self.walk(&entry.path(), &path, ignored);
            } else if kind.is_file() && name.ends_with(".rs") {
                let text = fs::read_to_string(entry.path()).expect("a Rust source");
                self.sources.push((path.clone(), text));
            }
            self.paths.push(path);
        }
    }

    /// What is wrong with the citation `span` (nothing when everything it cites exists).
    pub fn problems(&self, span: &str) -> Vec<String> {
        let mut problems: Vec<String> = span
            .split_whitespace()
            .filter_map(|word| self.path_problem(word))
            .collect();
        problems.extend(self.module_problem(span));
        for segment in span.trim_end_matches("()").split("::") {
            if is_test_name(segment) && !self.functions.contains(segment) {
                problems.push(format!("no test or function `{segment}`"));
            }
        }
        problems
    }

    fn path_problem(&self, word: &str) -> Option<String> {
        let word = word
            .trim_start_matches('(')
            .trim_end_matches([',', ';', ')']);
        if word.contains(['<', '>', '{', '}', '$', '…']) {
            return None;
        }
        let first = word.split('/').next().unwrap_or(word);
        if word.contains('/') && self.top_level.contains(first) {
            let (pattern, folder_only) = match word.strip_suffix('/') {
                Some(folder) => (folder, true),
                None => (word, false),
            };
            let found = self.paths.iter().any(|path| {
                (!folder_only || self.folders.contains(path)) && glob_matches(pattern, path)
            });
            (!found).then(|| format!("no file or folder `{word}`"))
        } else if word.ends_with(".rs") {
            let found = self
                .sources
                .iter()
                .any(|(path, _)| path == word || path.ends_with(&format!("/{word}")));
            (!found).then(|| format!("no Rust file ending in `{word}`"))
        } else {
            None
        }
    }

    fn module_problem(&self, span: &str) -> Option<String> {
        let segments: Vec<&str> = span.trim_end_matches("()").split("::").collect();
        let (first, rest) = segments.split_first()?;
        if rest.is_empty()
            || !is_snake(first)
            || self.external_crates.contains(*first)
            || !segments.iter().all(|s| *s == "*" || is_identifier(s))
        {
            return None;
        }
        let (crate_folder, rest) = match first.strip_prefix("tributary_") {
            Some(name) => (Some(name.replace('_', "-")), rest),
            None => (None, segments.as_slice()),
        };
        let chain_len = rest
            .iter()
            .position(|s| is_test_module(s) || !is_snake(s))
            .unwrap_or(rest.len());
        let (chain, after) = rest.split_at(chain_len);
        if chain.is_empty() {
            return None;
        }
        let modules = self.module_files(crate_folder.as_deref(), chain);
        if modules.is_empty() {
            return self.function_problem(crate_folder.as_deref(), chain, after);
        }
        let next = after.first()?;
        let declared = if is_test_module(next) {
            modules
                .iter()
                .any(|text| defines(text, &[&format!("mod {next};"), &format!("mod {next} {{")]))
        } else if next.starts_with(|c: char| c.is_ascii_uppercase()) {
            let kinds = ["struct", "enum", "trait", "type"].map(|kind| format!("{kind} {next}"));
            modules
                .iter()
                .any(|text| kinds.iter().any(|k| defines_word(text, k)))
        } else {
            true
        };
        (!declared).then(|| format!("module `{}` has no `{next}`", chain.join("::")))
    }

    /// A chain that names no module file may be `module::function`.
    fn function_problem(
        &self,
        crate_folder: Option<&str>,
        chain: &[&str],
        after: &[&str],
    ) -> Option<String> {
        let missing = || Some(format!("no module `{}`", chain.join("::")));
        let (function, module) = chain.split_last()?;
        if !after.is_empty() || module.is_empty() {
            return missing();
        }
        let signature = format!("fn {function}");
        let found = self
            .module_files(crate_folder, module)
            .iter()
            .any(|text| defines_word(text, &signature));
        if found { None } else { missing() }
    }

    /// The texts of the files that can be the module `chain` (`a/b.rs` or `a/b/mod.rs`), within
    /// `crate_folder/src/` when a crate is named.
    fn module_files(&self, crate_folder: Option<&str>, chain: &[&str]) -> Vec<&str> {
        let joined = chain.join("/");
        let endings = [format!("/{joined}.rs"), format!("/{joined}/mod.rs")];
        self.sources
            .iter()
            .filter(|(path, _)| {
                crate_folder.is_none_or(|folder| path.starts_with(&format!("{folder}/src/")))
                    && endings.iter().any(|ending| path.ends_with(ending.as_str()))
            })
            .map(|(_, text)| text.as_str())
            .collect()
    }
}

/// Top-level names `.gitignore` leaves out (`/target`), wildcards aside.
fn ignored_top_level(root: &Path) -> HashSet<String> {
    let text = fs::read_to_string(root.join(".gitignore")).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.trim().strip_prefix('/'))
        .filter(|name| !name.contains(['*', '/']))
        .map(str::to_owned)
        .collect()
}

/// The keys of the root `Cargo.toml`'s `[workspace.dependencies]` as Rust names, and the
/// standard crates.
fn external_crates(root: &Path) -> HashSet<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("the workspace Cargo.toml");
    let mut crates: HashSet<String> = ["std", "core", "alloc"].map(str::to_owned).into();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[workspace.dependencies]";
        } else if in_dependencies && let Some((key, _)) = line.split_once('=') {
            crates.insert(key.trim().replace('-', "_"));
        }
    }
    crates
}

/// The names after `fn ` in a Rust source.
fn defined_functions(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("fn ").filter_map(|(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(is_identifier_char) {
            return None;
        }
        let name: String = text[at + 3..]
            .trim_start()
            .chars()
            .take_while(|c| is_identifier_char(*c))
            .collect();
        (!name.is_empty()).then_some(name)
    })
}

/// The `name:` entries of macro invocations written as blocks (`fault_tests! {`), which
/// generate a test per entry.
fn macro_entries(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if !inside {
            inside = line
                .strip_suffix('{')
                .and_then(|head| head.trim_end().strip_suffix('!'))
                .is_some_and(|name| !name.is_empty() && name.chars().all(is_identifier_char));
        } else if line == "}" {
            inside = false;
        } else if let Some((name, _)) = line.split_once(':')
            && is_snake(name)
        {
            entries.push(name.to_owned());
        }
    }
    entries
}

/// Whether `text` holds one of `forms` (declarations).
fn defines(text: &str, forms: &[&str]) -> bool {
    forms.iter().any(|form| text.contains(form))
}

/// Whether `text` holds `words` followed by a character that cannot continue a name.
fn defines_word(text: &str, words: &str) -> bool {
    text.match_indices(words).any(|(at, _)| {
        !text[at + words.len()..]
            .chars()
            .next()
            .is_some_and(is_identifier_char)
    })
}

/// Whether `pattern` (`*` matching within one segment) matches the whole of `path`.
fn glob_matches(pattern: &str, path: &str) -> bool {
    let patterns: Vec<&str> = pattern.split('/').collect();
    let segments: Vec<&str> = path.split('/').collect();
    patterns.len() == segments.len()
        && patterns
            .iter()
            .zip(&segments)
            .all(|(p, s)| wildcard_matches(p, s))
}

fn wildcard_matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (head.len()..=text.len())
                    .any(|at| text.is_char_boundary(at) && wildcard_matches(tail, &text[at..]))
        }
    }
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(is_identifier_char)
}

/// A lowercase Rust name (`dms_layout`, `tests`).
fn is_snake(text: &str) -> bool {
    is_identifier(text)
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A test module's name: `tests`, or one ending in `_tests` (`bounds_tests`).
fn is_test_module(segment: &str) -> bool {
    segment == "tests" || segment.ends_with("_tests")
}

fn is_test_name(text: &str) -> bool {
    is_snake(text) && text.matches('_').count() >= TEST_NAME_UNDERSCORES
}
