//! Unit tests of `yaml_index`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const DOCUMENT: &str = "\
# a comment
cadences:
  10min:
    batch_size: 5

tables:
  - cadence: 10min
    source: {schema: sales, table: orders}
    partition_by:
      - month(order_date)
      - identity(region)
    input:
      columns: [{name: a, type: int},
                {name: b, type: string}]
  -
    cadence: hourly
";

fn path(dotted: &str) -> YamlPath {
    YamlPath::root().join_dotted(dotted)
}

#[test]
fn mapping_entries_are_on_the_line_of_their_key() {
    let index = YamlIndex::build(DOCUMENT).unwrap();
    assert_eq!(index.exact_line(&path("cadences")), Some(2));
    assert_eq!(index.exact_line(&path("cadences.10min")), Some(3));
    assert_eq!(
        index.exact_line(&path("cadences.10min.batch_size")),
        Some(4)
    );
    assert_eq!(index.exact_line(&path("tables")), Some(6));
    assert_eq!(index.exact_line(&path("tables[0].input")), Some(12));
}

#[test]
fn sequence_items_are_on_the_line_their_node_starts() {
    let index = YamlIndex::build(DOCUMENT).unwrap();
    assert_eq!(index.exact_line(&path("tables[0]")), Some(7));
    assert_eq!(
        index.exact_line(&path("tables[0].partition_by[0]")),
        Some(10)
    );
    assert_eq!(
        index.exact_line(&path("tables[0].partition_by[1]")),
        Some(11)
    );
    assert_eq!(
        index.exact_line(&path("tables[1]")),
        Some(16),
        "an item whose mapping starts on the next line"
    );
    assert_eq!(index.exact_line(&path("tables[1].cadence")), Some(16));
}

#[test]
fn flow_collections_are_indexed_too() {
    let index = YamlIndex::build(DOCUMENT).unwrap();
    assert_eq!(index.exact_line(&path("tables[0].source.table")), Some(8));
    assert_eq!(
        index.exact_line(&path("tables[0].input.columns[1].type")),
        Some(14)
    );
}

#[test]
fn an_absent_path_falls_back_to_its_nearest_present_ancestor() {
    let index = YamlIndex::build(DOCUMENT).unwrap();
    assert_eq!(index.exact_line(&path("tables[0].ordering")), None);
    assert_eq!(index.line(&path("tables[0].ordering.sequence_column")), 7);
    assert_eq!(
        index.line(&path("nothing.here")),
        2,
        "the root mapping starts after the comment"
    );
    assert_eq!(YamlIndex::default().line(&path("a")), 1);
}

#[test]
fn dotted_field_paths_parse_into_keys_and_items() {
    let parsed = YamlPath::root()
        .key("tables")
        .index(3)
        .join_dotted("input.columns[2].type");
    let built = YamlPath::root()
        .key("tables")
        .index(3)
        .key("input")
        .key("columns")
        .index(2)
        .key("type");
    assert_eq!(parsed, built);
    assert_eq!(parsed.to_string(), "tables[3].input.columns[2].type");
    assert_eq!(
        path("odd[key").last(),
        Some(&Segment::Key("odd[key".to_owned())),
        "brackets that are not an index stay part of the key"
    );
    assert_eq!(path("").parent(), None);
}

#[test]
fn a_syntax_error_reports_its_line() {
    let error = YamlIndex::build("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
    let YamlIndexError::Syntax { line, .. } = error;
    assert!(
        line >= 2,
        "the unclosed list starts on line 2, reported {line}"
    );
}
