//! Bootstrap: what a function does once at start-up — typed configuration, AWS SDK clients,
//! logging, metrics, the Lambda runtime's view of the services (error diagnostics, the
//! invocation), and the stack's own resource definitions.

pub mod aws;
pub mod config;
pub mod lambda;
pub mod metrics;
pub mod stack_template;
pub mod telemetry;
