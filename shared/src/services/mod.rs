//! Services: what each Lambda function does, written against the [`crate::ports`] — the
//! file-manager (events → file tracker), the batch-manager (a run's plan), the processor (one
//! table refresh after another) and the publisher (a committed snapshot → the catalog).

pub mod batch_manager;
pub mod file_manager;
pub mod processor;
pub mod publisher;
