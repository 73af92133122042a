//! S3 object keys as they arrive in event notifications: URL-decoded and checked for path tricks.
//!
//! S3 event notifications carry keys form-encoded: a space is `+` and other special characters are
//! `%XX` (moto's S3→SQS notifications also encode `/` as `%2F`). EventBridge events carry the key
//! as it is. So a key is decoded by the rule of its envelope ([`EventKey`]), and decoding is
//! strict: a `%` that does not start a valid escape, or bytes that are not UTF-8 once decoded,
//! reject the key instead of guessing.

use std::fmt;

use percent_encoding::percent_decode_str;
use thiserror::Error;

use crate::domain::s3_events::EventKey;

/// The longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why a key from an event was refused. Every variant is permanent: the same key fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRejection {
    /// The event carried an empty key.
    #[error("the key is empty")]
    Empty,
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid URL escape at byte {position}: `%` must be followed by two hex digits")]
    InvalidEscape {
        /// Byte offset of the `%` in the encoded key.
        position: usize,
    },
    /// The decoded bytes are not valid UTF-8.
    #[error("the decoded key is not valid UTF-8")]
    NotUtf8,
    /// Longer than S3 allows.
    #[error("the key is {length} bytes long; S3 keys are at most {MAX_KEY_BYTES} bytes")]
    TooLong {
        /// Decoded length in bytes.
        length: usize,
    },
    /// A control character (U+0000–U+001F, U+007F) anywhere in the key.
    #[error("the key contains the control character U+{code:04X} at byte {position}")]
    ControlCharacter {
        /// The offending code point.
        code: u32,
        /// Byte offset in the decoded key.
        position: usize,
    },
    /// The key starts with `/`.
    #[error("the key starts with `/`")]
    LeadingSlash,
    /// Two consecutive slashes.
    #[error("the key has an empty path segment (`//`)")]
    EmptySegment,
    /// A `.` or `..` segment, which could resolve outside the expected folder.
    #[error("the key has a relative path segment `{segment}`")]
    RelativeSegment {
        /// The segment, `.` or `..`.
        segment: String,
    },
}

/// A decoded, validated S3 object key.
///
/// Invariants: non-empty, at most [`MAX_KEY_BYTES`] bytes, no control characters, no leading `/`,
/// no `//`, no `.`/`..` segments. A trailing `/` is allowed: that is how folder markers look.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Decodes a key as found in an S3 event notification (`+` is a space, `%XX` escapes) and
    /// validates it.
    pub fn from_event_encoding(encoded: &str) -> Result<Self, KeyRejection> {
        if let Some(position) = invalid_escape_position(encoded) {
            return Err(KeyRejection::InvalidEscape { position });
        }
        let spaced = encoded.replace('+', " ");
        let decoded = percent_decode_str(&spaced)
            .decode_utf8()
            .map_err(|_| KeyRejection::NotUtf8)?;
        Self::new(decoded.into_owned())
    }

    /// Decodes a key as its event carried it ([`EventKey`]) and validates it.
    pub fn from_event(key: &EventKey) -> Result<Self, KeyRejection> {
        match key {
            EventKey::FormEncoded(text) => Self::from_event_encoding(text),
            EventKey::Verbatim(text) => Self::new(text.clone()),
        }
    }

    /// Validates a key that is already decoded (for example one listed through the S3 API).
    pub fn new(key: String) -> Result<Self, KeyRejection> {
        if key.is_empty() {
            return Err(KeyRejection::Empty);
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyRejection::TooLong { length: key.len() });
        }
        if let Some((position, c)) = key.char_indices().find(|(_, c)| c.is_ascii_control()) {
            return Err(KeyRejection::ControlCharacter {
                code: u32::from(c),
                position,
            });
        }
        if key.starts_with('/') {
            return Err(KeyRejection::LeadingSlash);
        }
        let body = key.strip_suffix('/').unwrap_or(&key);
        for segment in body.split('/') {
            match segment {
                "" => return Err(KeyRejection::EmptySegment),
                "." | ".." => {
                    return Err(KeyRejection::RelativeSegment {
                        segment: segment.to_owned(),
                    });
                }
                _ => {}
            }
        }
        Ok(Self(key))
    }

    /// The decoded key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a zero-content "folder" placeholder such as `dms/sales/`.
    pub fn is_folder_marker(&self) -> bool {
        self.0.ends_with('/')
    }

    /// The key's `/`-separated segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Position of the first `%` that does not introduce two hex digits.
fn invalid_escape_position(encoded: &str) -> Option<usize> {
    let bytes = encoded.as_bytes();
    bytes.iter().enumerate().find_map(|(i, &b)| {
        let valid = b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        (!valid).then_some(i)
    })
}

#[cfg(test)]
#[path = "object_key_test.rs"]
mod tests;
