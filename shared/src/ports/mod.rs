//! Ports: what the services need from the outside world, as traits with their value types. The
//! AWS implementations live in [`crate::adapters`]; tests use in-memory ones.

pub mod catalog;
pub mod clock;
pub mod file_tracker;
pub mod processing_tracker;
pub mod state_store;
pub mod table_registry;
