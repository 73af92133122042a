//! The Iceberg partition spec of a lake table, from `partition_by` (COMMON15 §7), and the
//! partition tuple of each of the table's partitions.
//!
//! `identity(col)` is Iceberg's identity, `year|month|day|hour(col)` the same Iceberg transform
//! (hidden partitioning: the Hive key names of the nested and dt styles do not matter to Iceberg).
//! A partition field is named after its column (identity), its given name (`month(c) as name`),
//! or `<col>_<transform>`. A partition's tuple comes from the values our snapshot records for it
//! (rendered by `lake::partitioning`), converted back to the transform's result: years, months or
//! hours since 1970 (`int`), days since 1970 (`date`), or the identity value in the column's type.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use iceberg::spec::{Literal, PrimitiveType, Schema, Struct, Transform, UnboundPartitionSpec};

use super::IcebergError;
use crate::lake::partitioning::PartitionValues;
use crate::lake::table_config::{
    DatePartitionStyle, PartitionField, PartitionTransform, partition_key_names,
};

/// The Iceberg transform of a partition transform.
fn transform(transform: PartitionTransform) -> Transform {
    match transform {
        PartitionTransform::Identity => Transform::Identity,
        PartitionTransform::Year => Transform::Year,
        PartitionTransform::Month => Transform::Month,
        PartitionTransform::Day => Transform::Day,
        PartitionTransform::Hour => Transform::Hour,
    }
}

/// The Iceberg partition field name: the column (identity), the given name, or
/// `<column>_<transform>`.
pub fn partition_field_name(field: &PartitionField) -> String {
    match (&field.name, field.transform) {
        (Some(name), _) => name.clone(),
        (None, PartitionTransform::Identity) => field.column.clone(),
        (None, other) => format!("{}_{}", field.column, other.as_str()),
    }
}

/// The partition spec of `fields` over `schema`, without field ids (the table metadata assigns
/// them from 1000 and reuses them for the same source and transform). Checked against the schema.
pub fn partition_spec(
    fields: &[PartitionField],
    schema: &Schema,
) -> Result<UnboundPartitionSpec, IcebergError> {
    let mut builder = UnboundPartitionSpec::builder();
    for field in fields {
        let source =
            schema
                .field_by_name(&field.column)
                .ok_or_else(|| IcebergError::UnknownColumn {
                    column: field.column.clone(),
                    role: "partition",
                })?;
        builder = builder
            .add_partition_field(
                source.id,
                partition_field_name(field),
                transform(field.transform),
            )
            .map_err(IcebergError::spec("building the partition spec"))?;
    }
    let spec = builder.build();
    spec.clone()
        .bind(schema.clone())
        .map_err(IcebergError::spec(
            "binding the partition spec to the schema",
        ))?;
    Ok(spec)
}

/// The partition tuple of the partition whose values (in `style`) are `values`: one value per
/// field of [`partition_spec`], null when the partition value is null.
pub fn partition_tuple(
    fields: &[PartitionField],
    style: DatePartitionStyle,
    schema: &Schema,
    values: &PartitionValues,
) -> Result<Struct, IcebergError> {
    let path = values.path();
    let invalid = |problem: String| IcebergError::PartitionValue {
        path: path.clone(),
        problem,
    };
    let mut remaining = values.0.as_slice();
    let mut tuple = Vec::with_capacity(fields.len());
    for field in fields {
        let keys = partition_key_names(std::slice::from_ref(field), style);
        let (own, rest) = remaining.split_at_checked(keys.len()).ok_or_else(|| {
            invalid(format!(
                "has no value for partition field `{}`",
                field.column
            ))
        })?;
        remaining = rest;
        if own.iter().map(|(key, _)| key).ne(keys.iter()) {
            return Err(invalid(format!(
                "keys differ from partition_by, which expects {}",
                keys.join("/")
            )));
        }
        let parts: Option<Vec<&str>> = own.iter().map(|(_, v)| v.as_deref()).collect();
        let literal = match parts {
            None => None,
            Some(parts) => Some(field_literal(field, schema, &parts).map_err(&invalid)?),
        };
        tuple.push(literal);
    }
    if !remaining.is_empty() {
        return Err(invalid("has more keys than partition_by".to_owned()));
    }
    Ok(Struct::from_iter(tuple))
}

/// The transform result of one field from its rendered values.
fn field_literal(
    field: &PartitionField,
    schema: &Schema,
    parts: &[&str],
) -> Result<Literal, String> {
    if field.transform == PartitionTransform::Identity {
        let source = schema
            .field_by_name(&field.column)
            .ok_or_else(|| format!("column `{}` is not in the schema", field.column))?;
        let primitive = source
            .field_type
            .as_primitive_type()
            .ok_or_else(|| format!("column `{}` is not a primitive", field.column))?;
        let text = parts.first().copied().unwrap_or_default();
        return identity_literal(text, primitive)
            .ok_or_else(|| format!("`{text}` is not a valid {primitive} for `{}`", field.column));
    }
    let depth = date_depth(field.transform);
    let components = match parts {
        [single] if depth > 1 => split_dt(single, depth),
        parts => parts.iter().map(|p| p.parse::<i64>().ok()).collect(),
    };
    components
        .filter(|c| c.len() == depth)
        .and_then(|c| date_literal(field.transform, &c))
        .ok_or_else(|| {
            format!(
                "`{}` is not a {} value of `{}`",
                parts.join("/"),
                field.transform.as_str(),
                field.column
            )
        })
}

/// How many calendar parts a date transform renders: year, month, day, hour.
fn date_depth(transform: PartitionTransform) -> usize {
    match transform {
        PartitionTransform::Identity | PartitionTransform::Year => 1,
        PartitionTransform::Month => 2,
        PartitionTransform::Day => 3,
        PartitionTransform::Hour => 4,
    }
}

/// The parts of a dt-style value `2024-01-05-07` (a negative year keeps its sign).
fn split_dt(text: &str, depth: usize) -> Option<Vec<i64>> {
    let mut parts: Vec<&str> = text.rsplitn(depth, '-').collect();
    parts.reverse();
    parts.iter().map(|p| p.parse::<i64>().ok()).collect()
}

/// The transform result of `[year, month, day, hour]` (as many as the transform renders).
fn date_literal(transform: PartitionTransform, parts: &[i64]) -> Option<Literal> {
    let year = *parts.first()?;
    let month = parts.get(1).copied().unwrap_or(1);
    let day = parts.get(2).copied().unwrap_or(1);
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?;
    let days = days_since_epoch(date);
    Some(match transform {
        PartitionTransform::Year => Literal::int(i32::try_from(year - 1970).ok()?),
        PartitionTransform::Month => {
            Literal::int(i32::try_from((year - 1970) * 12 + month - 1).ok()?)
        }
        PartitionTransform::Day => Literal::date(i32::try_from(days).ok()?),
        PartitionTransform::Hour => {
            let hour = *parts.get(3).filter(|h| (0..24).contains(*h))?;
            Literal::int(i32::try_from(days * 24 + hour).ok()?)
        }
        PartitionTransform::Identity => return None,
    })
}

/// Days from 1970-01-01 to `date`.
fn days_since_epoch(date: NaiveDate) -> i64 {
    date.signed_duration_since(DateTime::UNIX_EPOCH.date_naive())
        .num_days()
}

/// An identity partition value, rendered by `lake::partitioning`, in the column's Iceberg type.
fn identity_literal(text: &str, primitive: &PrimitiveType) -> Option<Literal> {
    Some(match primitive {
        PrimitiveType::Boolean => Literal::bool(text.parse::<bool>().ok()?),
        PrimitiveType::Int => Literal::int(text.parse::<i32>().ok()?),
        PrimitiveType::Long => Literal::long(text.parse::<i64>().ok()?),
        PrimitiveType::String => Literal::string(text),
        PrimitiveType::Date => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Literal::date(i32::try_from(days_since_epoch(date)).ok()?)
        }
        PrimitiveType::Timestamp => {
            let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
            Literal::timestamp(at.and_utc().timestamp_micros())
        }
        PrimitiveType::Decimal { scale, .. } => Literal::decimal(decimal_mantissa(text, *scale)?),
        _ => return None,
    })
}

/// The unscaled value of a decimal rendered with at most `scale` fraction digits (`-12.50` at
/// scale 2 is -1250).
fn decimal_mantissa(text: &str, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let width = usize::try_from(scale).ok()?;
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || fraction.len() > width || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let padded = format!("{whole}{fraction:0<width$}");
    let magnitude = padded.parse::<i128>().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
#[path = "partition_spec_test.rs"]
mod tests;
