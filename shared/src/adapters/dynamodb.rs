//! What the DynamoDB adapters share: mapping SDK errors to [`StoreError`], and writing and
//! reading attribute values. (Tables are created from the stack template: `local_stack`.)

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::operation::BuildError;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::ports::state_store::StoreError;

/// A DynamoDB item: attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

/// DynamoDB error codes that mean "slow down".
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Maps an SDK error of a request to `store` to the port's error kinds.
pub fn store_error<E, R>(store: &'static str, error: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or_default().to_owned();
            if THROTTLING_CODES.contains(&code.as_str()) {
                StoreError::Throttled {
                    store,
                    detail: format!("{code}: {message}"),
                }
            } else {
                StoreError::Refused {
                    store,
                    code,
                    message,
                }
            }
        }
        other => StoreError::Unreachable {
            store,
            detail: DisplayErrorContext(other).to_string(),
        },
    }
}

/// The outcome of a conditional write to `store`: the output when DynamoDB made the write,
/// `None` when its condition failed, the port's error otherwise.
pub fn conditional_write<O, E, R>(
    store: &'static str,
    result: Result<O, SdkError<E, R>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(store_error(store, &e)),
    }
}

/// A request to `store` that could not even be built (a required field is missing: a bug).
pub fn invalid_request(store: &'static str, error: &BuildError) -> StoreError {
    StoreError::Refused {
        store,
        code: "InvalidRequest".to_owned(),
        message: error.to_string(),
    }
}

/// A timestamp as stored: RFC 3339 in UTC with milliseconds (`2024-03-01T10:15:30.123Z`). Such
/// strings sort in time order.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string attribute value.
pub fn string_value(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute value.
pub fn number_value(value: impl Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Expression attribute names `#<name>` → `<name>` for each of `attributes`: every expression
/// of the adapters names attributes through such placeholders, so reserved words never matter.
pub fn placeholders(attributes: &[&str]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|name| (format!("#{name}"), (*name).to_owned()))
        .collect()
}

/// Reads the attributes of one stored item; every error names the item and the attribute.
#[derive(Debug, Clone, Copy)]
pub struct ItemReader<'a> {
    store: &'static str,
    item: &'a Item,
    key: &'a [&'a str],
}

impl<'a> ItemReader<'a> {
    /// A reader of `item` of `store`, whose key attributes (named in errors) are `key`.
    pub fn new(store: &'static str, item: &'a Item, key: &'a [&'a str]) -> Self {
        Self { store, item, key }
    }

    fn corrupt(&self, attribute: &str, problem: &str) -> StoreError {
        let item = self
            .key
            .iter()
            .map(|name| {
                let value = self
                    .item
                    .get(*name)
                    .and_then(|v| v.as_s().ok())
                    .map_or("?", String::as_str);
                format!("{name}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        StoreError::Corrupt {
            store: self.store,
            item,
            problem: format!("attribute `{attribute}` {problem}"),
        }
    }

    fn present(&self, attribute: &str) -> Result<&'a AttributeValue, StoreError> {
        self.item
            .get(attribute)
            .ok_or_else(|| self.corrupt(attribute, "is missing"))
    }

    /// `read(self, attribute)` when the attribute is present, else `None`.
    pub fn optional<T>(
        &self,
        attribute: &str,
        read: impl FnOnce(&Self, &str) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        if self.item.contains_key(attribute) {
            read(self, attribute).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A string attribute.
    pub fn string(&self, attribute: &str) -> Result<&'a str, StoreError> {
        self.present(attribute)?
            .as_s()
            .map(String::as_str)
            .map_err(|_| self.corrupt(attribute, "is not a string"))
    }

    /// A string attribute naming one of a fixed set of values (`parse` returns `None` for others).
    pub fn named<T>(
        &self,
        attribute: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let value = self.string(attribute)?;
        parse(value).ok_or_else(|| self.corrupt(attribute, &format!("has unknown value `{value}`")))
    }

    /// A number attribute.
    pub fn number<T: FromStr>(&self, attribute: &str) -> Result<T, StoreError> {
        let value = self
            .present(attribute)?
            .as_n()
            .map_err(|_| self.corrupt(attribute, "is not a number"))?;
        value
            .parse()
            .map_err(|_| self.corrupt(attribute, &format!("is out of range: {value}")))
    }

    /// A boolean attribute.
    pub fn boolean(&self, attribute: &str) -> Result<bool, StoreError> {
        self.present(attribute)?
            .as_bool()
            .copied()
            .map_err(|_| self.corrupt(attribute, "is not a boolean"))
    }

    /// A list-of-strings attribute.
    pub fn strings(&self, attribute: &str) -> Result<Vec<String>, StoreError> {
        self.present(attribute)?
            .as_l()
            .map_err(|_| self.corrupt(attribute, "is not a list"))?
            .iter()
            .map(|value| {
                value
                    .as_s()
                    .cloned()
                    .map_err(|_| self.corrupt(attribute, "holds a value that is not a string"))
            })
            .collect()
    }

    /// An RFC 3339 timestamp attribute.
    pub fn time(&self, attribute: &str) -> Result<DateTime<Utc>, StoreError> {
        let value = self.string(attribute)?;
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| self.corrupt(attribute, &format!("is not an RFC 3339 time: {value}")))
    }

    /// An epoch-milliseconds number attribute.
    pub fn epoch_millis(&self, attribute: &str) -> Result<DateTime<Utc>, StoreError> {
        let millis: i64 = self.number(attribute)?;
        DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| self.corrupt(attribute, &format!("is not a time: {millis}")))
    }

    /// An epoch-seconds number attribute (the form of TTL attributes).
    pub fn epoch_seconds(&self, attribute: &str) -> Result<DateTime<Utc>, StoreError> {
        let seconds: i64 = self.number(attribute)?;
        DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| self.corrupt(attribute, &format!("is not a time: {seconds}")))
    }
}
