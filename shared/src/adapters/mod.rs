//! Adapters: the AWS implementations of the library's ports, one AWS dependency per file.

pub mod dynamodb;
pub mod dynamodb_file_tracker;
