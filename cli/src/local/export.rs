//! `local export`: copy a lake table's current partitions — only the versions the Glue catalog
//! points to — to local disk in Hive layout, for DuckDB or pandas.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::Serialize;
use tributary_shared::adapters::glue_catalog::GlueCatalog;
use tributary_shared::adapters::s3_object_store::s3_object_store;
use tributary_shared::bootstrap::aws;
use tributary_shared::lake::partitioning::escape_partition_value;
use tributary_shared::lake::table_config::TableSpec;
use tributary_shared::ports::catalog::{Catalog, CatalogColumn, TableDefinition};
use tributary_shared::ports::table_registry::TableRegistry;

use crate::connection::Session;
use crate::output::{Output, TextTable};

/// How Hive writes a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// Arguments of `tributary local export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The table (`schema.table` id, or the DMS folders `schema/table`).
    #[arg(long, value_parser = crate::table_arg::table_id)]
    table: String,
    /// An empty (or new) directory to write the table into.
    dir: PathBuf,
}

/// What `export` wrote.
#[derive(Debug, Serialize)]
struct Exported {
    table: String,
    glue_table: String,
    columns: Vec<(String, String)>,
    partition_keys: Vec<(String, String)>,
    partitions: usize,
    files: usize,
    bytes: u64,
    dir: PathBuf,
    duckdb_query: String,
}

/// `tributary local export`.
pub async fn export(session: &Session, output: &Output, args: ExportArgs) -> Result<ExitCode> {
    let state = session.local_state()?;
    let catalog = GlueCatalog::new(aws::glue_client(&session.sdk));
    let definition = glue_table(session, &catalog, &args.table).await?;
    let folders = partition_folders(&catalog, &definition).await?;
    prepare_empty_dir(&args.dir)?;
    let lake =
        s3_object_store(&session.sdk, &state.lake_bucket).context("cannot open the lake bucket")?;
    let disk = LocalFileSystem::new_with_prefix(&args.dir)
        .with_context(|| format!("cannot write into {}", args.dir.display()))?;
    let (mut files, mut bytes) = (0, 0);
    for (hive, location) in &folders {
        let prefix = location
            .strip_prefix(&format!("s3://{}/", state.lake_bucket))
            .with_context(|| {
                format!("{location} is not in the lake bucket {}", state.lake_bucket)
            })?;
        // Locations are already escaped (`country=N%2FA`): parse them, never re-encode.
        let prefix = ObjectPath::parse(prefix)
            .with_context(|| format!("{location} is not a valid object path"))?;
        let objects: Vec<ObjectMeta> = lake
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("cannot list {location}"))?;
        let (folder_files, folder_bytes) = copy_objects(&lake, objects, &disk, hive).await?;
        files += folder_files;
        bytes += folder_bytes;
    }
    let pairs = |columns: &[CatalogColumn]| {
        columns
            .iter()
            .map(|c| (c.name.clone(), c.hive_type.clone()))
            .collect::<Vec<_>>()
    };
    let exported = Exported {
        table: args.table.clone(),
        glue_table: format!("{}.{}", definition.database, definition.name),
        columns: pairs(&definition.columns),
        partition_keys: pairs(&definition.partition_keys),
        partitions: folders.len(),
        files,
        bytes,
        duckdb_query: format!(
            "duckdb -c \"SELECT * FROM read_parquet('{}/**/*.parquet', hive_partitioning = true, \
             union_by_name = true) LIMIT 10\"",
            args.dir.display()
        ),
        dir: args.dir,
    };
    output.emit(&exported, export_text);
    Ok(ExitCode::SUCCESS)
}

/// The Glue table of registered table `table_id`, as its configuration names it.
async fn glue_table(
    session: &Session,
    catalog: &GlueCatalog,
    table_id: &str,
) -> Result<TableDefinition> {
    let registered = session
        .registry()
        .table(table_id)
        .await
        .with_context(|| format!("cannot read the registration of {table_id}"))?
        .with_context(|| format!("no table {table_id} is registered"))?;
    let spec: TableSpec = serde_json::from_str(&registered.spec_json)
        .with_context(|| format!("the configuration of {table_id} is unreadable"))?;
    catalog
        .table(&spec.target.database, &spec.target.table)
        .await
        .context("cannot read the Glue table")?
        .with_context(|| {
            format!(
                "{}.{} is not in the Glue catalog yet: run `tributary local run` first",
                spec.target.database, spec.target.table
            )
        })
}

/// The table's folders as (Hive path, S3 location): one per Glue partition, or the table's
/// location when it is not partitioned.
async fn partition_folders(
    catalog: &GlueCatalog,
    definition: &TableDefinition,
) -> Result<Vec<(String, String)>> {
    if definition.partition_keys.is_empty() {
        return Ok(vec![(String::new(), definition.location.clone())]);
    }
    Ok(catalog
        .partitions(definition)
        .await
        .context("cannot list the table's partitions")?
        .into_iter()
        .map(|p| (hive_path(&definition.partition_keys, &p.values), p.location))
        .collect())
}

/// Refuses a directory that holds anything; creates it when missing.
fn prepare_empty_dir(dir: &Path) -> Result<()> {
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        bail!(
            "{} is not empty: export into an empty or new directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Copies the lake's `objects` into the folder `hive` on disk (the top when empty), by file
/// name; returns the files and bytes copied.
async fn copy_objects(
    lake: &impl ObjectStore,
    objects: Vec<ObjectMeta>,
    disk: &LocalFileSystem,
    hive: &str,
) -> Result<(usize, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for object in objects {
        let Some(name) = object.location.filename() else {
            continue;
        };
        let body = lake
            .get(&object.location)
            .await
            .with_context(|| format!("cannot read {}", object.location))?
            .bytes()
            .await
            .with_context(|| format!("cannot read {}", object.location))?;
        let target = if hive.is_empty() {
            ObjectPath::parse(name)
        } else {
            ObjectPath::parse(format!("{hive}/{name}"))
        }
        .with_context(|| format!("{hive}/{name} is not a valid path"))?;
        bytes += body.len() as u64;
        disk.put(&target, body.into())
            .await
            .with_context(|| format!("cannot write {target}"))?;
        files += 1;
    }
    Ok((files, bytes))
}

/// What was exported, the Glue schema, and a query to read it.
fn export_text(e: &Exported) -> String {
    let mut schema = TextTable::new(&["column", "type", ""]);
    for (name, hive_type) in &e.columns {
        schema.row(vec![name.clone(), hive_type.clone(), String::new()]);
    }
    for (name, hive_type) in &e.partition_keys {
        schema.row(vec![
            name.clone(),
            hive_type.clone(),
            "partition key".to_owned(),
        ]);
    }
    format!(
        "exported {} ({}): {} partition(s), {} file(s), {} bytes into {}\nGlue schema:\n{}\
         query it: {}\n",
        e.table,
        e.glue_table,
        e.partitions,
        e.files,
        e.bytes,
        e.dir.display(),
        schema.render(),
        e.duckdb_query
    )
}

/// `k1=v1/k2=v2` with Hive-escaped values (null stays `__HIVE_DEFAULT_PARTITION__`).
fn hive_path(keys: &[CatalogColumn], values: &[String]) -> String {
    keys.iter()
        .zip(values)
        .map(|(key, value)| {
            let value = if value == HIVE_NULL {
                value.clone()
            } else {
                escape_partition_value(value)
            };
            format!("{}={value}", key.name)
        })
        .collect::<Vec<_>>()
        .join("/")
}
