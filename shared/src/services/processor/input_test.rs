//! Unit tests of the processor's invocation input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;

fn parse(input: Value) -> Result<BatchInput, serde_json::Error> {
    BatchInput::deserialize(input)
}

#[test]
fn a_batch_input_lists_cadence_number_and_tables_in_order() {
    let input = parse(json!({
        "refresh_cadence": "10min",
        "batch": 3,
        "tables": ["sales.orders", "sales.items"],
    }))
    .unwrap();
    assert_eq!(
        input,
        BatchInput {
            refresh_cadence: "10min".to_owned(),
            batch: 3,
            tables: vec!["sales.orders".to_owned(), "sales.items".to_owned()],
        }
    );
}

#[test]
fn the_batch_number_defaults_to_zero() {
    let input = parse(json!({"refresh_cadence": "1h", "tables": []})).unwrap();
    assert_eq!(input.batch, 0);
    assert!(input.tables.is_empty());
}

#[test]
fn an_unknown_field_is_rejected_and_named() {
    let error = parse(json!({
        "refresh_cadence": "10min",
        "tables": ["sales.orders"],
        "table": "sales.items",
    }))
    .unwrap_err();
    assert!(error.to_string().contains("`table`"), "{error}");
}

#[test]
fn missing_tables_or_cadence_are_rejected() {
    for (input, reason) in [
        (
            json!({"refresh_cadence": "10min"}),
            "missing field `tables`",
        ),
        (
            json!({"tables": ["sales.orders"]}),
            "missing field `refresh_cadence`",
        ),
        (
            json!({"refresh_cadence": "10min", "tables": "sales.orders"}),
            "invalid type: string \"sales.orders\", expected a sequence",
        ),
    ] {
        let error = parse(input.clone()).map_err(|e| (e.classify(), e.to_string()));
        assert!(
            matches!(&error, Err((serde_json::error::Category::Data, message)) if message == reason),
            "{input}: {error:?}"
        );
    }
}
