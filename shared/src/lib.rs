//! Tributary's library: the domain model (DMS layout, events, file tracking), the services the
//! Lambda functions run, and the adapters to AWS.
//!
//! Domain modules have no AWS SDK types; every AWS dependency sits behind a small port in its own
//! adapter file under [`adapters`].

pub mod adapters;
pub mod aws;
pub mod batch_manager;
pub mod catalog;
pub mod config;
pub mod dms_layout;
pub mod file_manager;
pub mod file_tracker;
pub mod lake;
pub mod manifest;
pub mod metrics;
pub mod object_key;
pub mod processing_tracker;
pub mod processor;
pub mod publisher;
pub mod s3_events;
pub mod stack_template;
pub mod state_store;
pub mod table_registry;
pub mod telemetry;
