//! In-memory implementations of the ports, for the services' unit tests: one per port, beside
//! the traits they implement (the AWS ones are in [`crate::adapters`]). They keep the state the
//! AWS ones keep — backlogs in table order, leases with fencing tokens that every write of the
//! file and processing trackers checks, a catalog that refuses what Glue refuses — and let a
//! test arrange it, inspect it, and script another processor taking a lease over.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod catalog;
pub mod clock;
pub mod file_tracker;
pub mod processing_tracker;
pub mod registry;
