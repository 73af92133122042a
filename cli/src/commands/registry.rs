//! Reading the table registry for the commands, with the errors they print: one table named on
//! the command line, or every registered table.

use anyhow::{Context, Result};
use tributary_shared::ports::table_registry::{RegisteredTable, TableRegistry};

use crate::connection::Session;

/// The registration of `table_id`; an error names the table when it is not registered.
pub async fn registered(session: &Session, table_id: &str) -> Result<RegisteredTable> {
    session
        .registry()
        .table(table_id)
        .await
        .with_context(|| format!("cannot read the registration of {table_id}"))?
        .with_context(|| {
            format!("no table {table_id} is registered: see `tributary status` for the list")
        })
}

/// Every registered table, inactive ones included.
pub async fn all_registered(session: &Session) -> Result<Vec<RegisteredTable>> {
    session
        .registry()
        .all_tables()
        .await
        .context("cannot list the registered tables")
}
