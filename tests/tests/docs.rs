//! The documents cite only what exists: every repository path, module and test name that
//! docs/DESIGN.md and the READMEs cite in inline code is in the tree (the rules:
//! `tributary_tests::citations`). Needs no emulator.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::path::{Path, PathBuf};

use tributary_tests::citations::{CodeSpan, Tree, code_spans};

/// The documents checked, relative to the workspace root (demo/README.md documents the Python
/// dataset, whose snake_case names are JSON keys, not tests).
const DOCUMENTS: [&str; 3] = ["docs/DESIGN.md", "README.md", "infra/README.md"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// `document:line: `span`: problem` for each problem of `text`'s citations.
fn problems(tree: &Tree, document: &str, text: &str) -> Vec<String> {
    code_spans(text)
        .iter()
        .flat_map(|CodeSpan { line, text }| {
            tree.problems(text)
                .into_iter()
                .map(move |problem| format!("{document}:{line}: `{text}`: {problem}"))
        })
        .collect()
}

#[test]
fn every_path_module_and_test_the_design_and_readmes_cite_exists() {
    let root = workspace_root();
    let tree = Tree::scan(&root);
    let mut found = Vec::new();
    for document in DOCUMENTS {
        let text = std::fs::read_to_string(root.join(document)).expect("read the document");
        assert!(
            !code_spans(&text).is_empty(),
            "{document} is read for its code spans"
        );
        found.extend(problems(&tree, document, &text));
    }
    assert!(found.is_empty(), "cited but missing:\n{}", found.join("\n"));
}

#[test]
fn a_citation_of_a_missing_file_module_type_or_test_is_reported() {
    let tree = Tree::scan(&workspace_root());
    let text = "Cited: `tests/tests/processor.rs` and `tests/tests/no_such_file.rs`,\n\
                `shared/src/lake/` and `shared/src/no_such_folder/`, `paths.rs` and \
                `no_such_module.rs`,\n\
                `dms_layout::tests::text_that_could_name_two_tables_is_not_a_table_id`, \
                `dms_layout::tests::a_test_that_was_never_written`,\n\
                `change_order::CommitTimes`, `change_order::NoSuchType`, `lake::no_such_module`, \
                `dms_layout::no_such_tests::*`,\n\
                a test `a_second_apply_writes_nothing`, a setting `target_file_size_bytes`,\n\
                a dependency's `aws_lambda_events::s3::S3EventRecord`, a key `sales/orders/<N>.csv`.\n\
                ```\n`tests/tests/fenced_code_is_not_read.rs`\n```\n";
    assert_eq!(
        problems(&tree, "doc.md", text),
        [
            "doc.md:1: `tests/tests/no_such_file.rs`: no file or folder `tests/tests/no_such_file.rs`",
            "doc.md:2: `shared/src/no_such_folder/`: no file or folder `shared/src/no_such_folder/`",
            "doc.md:2: `no_such_module.rs`: no Rust file ending in `no_such_module.rs`",
            "doc.md:3: `dms_layout::tests::a_test_that_was_never_written`: no test or function `a_test_that_was_never_written`",
            "doc.md:4: `change_order::NoSuchType`: module `change_order` has no `NoSuchType`",
            "doc.md:4: `lake::no_such_module`: no module `lake::no_such_module`",
            "doc.md:4: `dms_layout::no_such_tests::*`: module `dms_layout` has no `no_such_tests`",
        ]
    );
}

#[test]
fn a_code_span_may_continue_on_the_next_line_but_not_past_a_blank_line() {
    let text = "a `first\nsecond` b `left open\n\nc `third`";
    assert_eq!(
        code_spans(text),
        [
            CodeSpan {
                line: 1,
                text: "first second".to_owned()
            },
            CodeSpan {
                line: 4,
                text: "third".to_owned()
            },
        ]
    );
}
