//! The domain: where AWS DMS puts its files, what each staged object is, and the event envelopes
//! that announce them. Pure rules over keys and JSON; no I/O.

pub mod dms_layout;
pub mod object_key;
pub mod s3_events;
