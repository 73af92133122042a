//! How a table is named on the command line: its id (`sales.orders`, see
//! `SourceTable::id`) or its DMS folders (`sales/orders`), which need no escaping.

use tributary_shared::domain::dms_layout::SourceTable;

/// Parses a `--table` value into the table's id; used as clap's `value_parser`.
pub fn table_id(text: &str) -> Result<String, String> {
    if let Some((schema, table)) = text.split_once('/') {
        if schema.is_empty() || table.is_empty() || table.contains('/') {
            return Err(format!(
                "`{text}` is not `schema/table`: give the two DMS folder names, e.g. `sales/orders`"
            ));
        }
        let source = SourceTable {
            schema: schema.to_owned(),
            table: table.to_owned(),
        };
        return Ok(source.id());
    }
    SourceTable::from_id(text)
        .map(|source| source.id())
        .map_err(|e| format!("{e}; or give the DMS folders as `schema/table`"))
}

#[cfg(test)]
mod tests {
    use super::table_id;

    #[test]
    fn a_table_is_named_by_its_id_or_its_folders_and_both_give_one_id() {
        assert_eq!(table_id("sales.orders").as_deref(), Ok("sales.orders"));
        assert_eq!(table_id("sales/orders").as_deref(), Ok("sales.orders"));
        assert_eq!(table_id("t.x/y").as_deref(), Ok("t%2Ex.y"));
        assert_eq!(table_id("t/x.y").as_deref(), Ok("t.x%2Ey"));
        assert_eq!(table_id("t%2Ex.y").as_deref(), Ok("t%2Ex.y"));
    }

    #[test]
    fn ambiguous_or_malformed_table_names_are_refused() {
        for bad in ["t.x.y", "orders", "a/b/c", "/orders", "a%2Fb.c", "a.b%"] {
            let refusal = table_id(bad);
            assert!(
                matches!(&refusal, Err(message) if message.starts_with(&format!("`{bad}` is not"))),
                "{bad}: {refusal:?}"
            );
        }
    }
}
