//! Logging set-up.

use tracing::Level;

/// Structured JSON logs on stdout (one object per line, as CloudWatch Logs Insights reads them),
/// at `level` and above. Safe to call more than once; later calls do nothing.
pub fn init_json_logs(level: Level) {
    // An error only means a subscriber is already installed (e.g. by a test harness).
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}
