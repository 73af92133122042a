//! Adapters: the AWS implementations of the library's ports, one AWS dependency per file.

pub mod dynamodb;
pub mod dynamodb_file_tracker;
pub mod dynamodb_processing_tracker;
pub mod dynamodb_table_registry;
pub mod glue_catalog;
pub mod local_stack;
pub mod s3_object_store;
