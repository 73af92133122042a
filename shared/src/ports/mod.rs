//! Ports: what the services need from the outside world, as traits with their value types. The
//! AWS implementations live in [`crate::adapters`]; the services' unit tests use the in-memory
//! ones of `memory`.

pub mod catalog;
pub mod clock;
pub mod file_tracker;
#[cfg(test)]
pub(crate) mod memory;
pub mod processing_tracker;
pub mod state_store;
pub mod table_registry;
