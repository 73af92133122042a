//! Tributary's library, in layers (docs/DESIGN.md, "Architecture"):
//!
//! - [`domain`]: what AWS DMS writes and how its objects are announced — pure rules, no I/O;
//! - [`ports`]: the traits the services need from the outside world (state stores, catalog,
//!   clock) and their value types;
//! - [`services`]: the file-manager, batch-manager, processor and publisher, written against
//!   the ports;
//! - [`contract`]: the messages the state machine's steps exchange;
//! - [`lake`]: the merge engine that turns DMS change files into partitioned Parquet tables;
//! - [`manifest`]: configuration manifests (`tributary config`);
//! - [`adapters`]: the AWS implementations of the ports, one AWS dependency per file;
//! - [`bootstrap`]: what a function does once at start-up (configuration, SDK clients,
//!   telemetry, metrics, the stack template).
//!
//! Domain, ports, services and lake have no AWS SDK types.

pub mod adapters;
pub mod bootstrap;
pub mod contract;
pub mod domain;
pub mod lake;
pub mod manifest;
pub mod ports;
pub mod services;
