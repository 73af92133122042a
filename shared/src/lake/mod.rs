//! The lake: table configuration and the merge engine ([`refresh`]) that turns DMS change files
//! into partitioned Parquet tables. No AWS types here; storage goes through `object_store`.

pub mod change_order;
pub mod dms_reader;
pub mod garbage;
pub mod iceberg;
pub mod key_ranges;
pub mod lake_files;
pub mod partitioning;
pub mod paths;
pub mod refresh;
pub mod schema_evolution;
pub mod snapshot;
pub mod sorted_merge;
pub mod table_config;
#[cfg(test)]
pub(crate) mod test_support;
