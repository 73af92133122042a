//! The lake: table configuration and the merge engine that turns DMS change files into
//! partitioned Parquet tables. No AWS types here; storage goes through `object_store`.

pub mod table_config;
