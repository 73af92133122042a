//! The commands that inspect and operate a pipeline, one file per command: `classify`,
//! `status` (its verdict rules in `health`), `files`, `history`, `refresh` and `retry`. The
//! helpers they share read the registry (`registry`) and the objects in no table's backlog
//! (`unrouted`). `tributary config` and `tributary local` have folders of their own.

pub mod classify;
pub mod files;
mod health;
pub mod history;
pub mod refresh;
mod registry;
pub mod retry;
pub mod status;
mod unrouted;
