//! What applying a manifest changes: the manifest compared with the registry, item by item.
//!
//! - A cadence is added, changed (field by field) or unchanged; cadences the manifest does not
//!   name are left as they are (never deleted).
//! - A table is added, changed (the fields of its canonical configuration that differ, as dotted
//!   paths), re-activated, deactivated or unchanged. A registered table the manifest no longer
//!   names is deactivated, its configuration kept, never deleted: its history and lake stay
//!   readable and re-adding it re-activates it.
//! - Only added, changed, re-activated and deactivated items are written, so applying the same
//!   manifest twice writes nothing the second time.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{
    ACTIVE_FIELD, CADENCE_FIELD, CadenceEntry, Manifest, ManifestTable, canonical_spec_value,
};
use crate::ports::table_registry::{CadenceSettings, RegisteredTable};

/// What applying the manifest does to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not registered yet: registered.
    Add,
    /// Registered with other settings: rewritten.
    Change,
    /// Registered inactive, active in the manifest: rewritten active.
    Reactivate,
    /// Registered active, inactive in (or absent from) the manifest: rewritten inactive.
    Deactivate,
    /// Nothing to write.
    Unchanged,
}

impl Action {
    /// The action's name, e.g. `reactivate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Change => "change",
            Action::Reactivate => "reactivate",
            Action::Deactivate => "deactivate",
            Action::Unchanged => "unchanged",
        }
    }
}

/// One field that changes. Values are JSON; `None` means the field is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path of the field, as the manifest names it, e.g. `input.columns[2].type`.
    pub field: String,
    /// The registered value.
    pub old: Option<Value>,
    /// The manifest's value.
    pub new: Option<Value>,
}

/// What happens to one cadence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CadencePlan {
    /// The cadence name.
    pub name: String,
    /// What happens.
    pub action: Action,
    /// Whether the manifest names it (cadences it does not name are left as they are).
    pub in_manifest: bool,
    /// The fields that change (every field for an added cadence).
    pub changes: Vec<FieldChange>,
    /// What is written, unless nothing is.
    #[serde(skip)]
    pub write: Option<CadenceSettings>,
}

/// What happens to one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablePlan {
    /// `schema.table`.
    pub table_id: String,
    /// What happens.
    pub action: Action,
    /// Whether the manifest names it (registered tables it does not name are deactivated).
    pub in_manifest: bool,
    /// The fields that change: `cadence`, `active` and configuration fields.
    pub changes: Vec<FieldChange>,
    /// What is written, unless nothing is.
    #[serde(skip)]
    pub write: Option<RegisteredTable>,
}

/// How many items get each action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ActionCounts {
    /// Added.
    pub add: usize,
    /// Changed.
    pub change: usize,
    /// Re-activated.
    pub reactivate: usize,
    /// Deactivated.
    pub deactivate: usize,
    /// Left as they are.
    pub unchanged: usize,
}

impl ActionCounts {
    fn count(actions: impl Iterator<Item = Action>) -> ActionCounts {
        let mut counts = ActionCounts::default();
        for action in actions {
            let slot = match action {
                Action::Add => &mut counts.add,
                Action::Change => &mut counts.change,
                Action::Reactivate => &mut counts.reactivate,
                Action::Deactivate => &mut counts.deactivate,
                Action::Unchanged => &mut counts.unchanged,
            };
            *slot += 1;
        }
        counts
    }
}

/// The counts of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Cadences by action.
    pub cadences: ActionCounts,
    /// Tables by action.
    pub tables: ActionCounts,
    /// Items written by applying the plan.
    pub writes: usize,
}

/// Everything applying a manifest does, cadences by name and tables by id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigPlan {
    /// Every cadence of the manifest or the registry.
    pub cadences: Vec<CadencePlan>,
    /// Every table of the manifest or the registry.
    pub tables: Vec<TablePlan>,
}

impl ConfigPlan {
    /// Compares `manifest` with the registered `cadences` and `tables`.
    pub fn compute(
        manifest: &Manifest,
        cadences: &[CadenceSettings],
        tables: &[RegisteredTable],
    ) -> ConfigPlan {
        let registered: BTreeMap<&str, &CadenceSettings> =
            cadences.iter().map(|c| (c.name.as_str(), c)).collect();
        let wanted: BTreeMap<&str, &CadenceSettings> = manifest
            .cadences
            .iter()
            .map(|c| (c.name.as_str(), c))
            .collect();
        let names: BTreeSet<&str> = registered.keys().chain(wanted.keys()).copied().collect();
        let cadences = names
            .into_iter()
            .map(|name| cadence_plan(name, registered.get(name), wanted.get(name)))
            .collect();

        let registered: BTreeMap<&str, &RegisteredTable> =
            tables.iter().map(|t| (t.table_id.as_str(), t)).collect();
        let wanted: BTreeMap<&str, &ManifestTable> = manifest
            .tables
            .iter()
            .map(|t| (t.table_id.as_str(), t))
            .collect();
        let ids: BTreeSet<&str> = registered.keys().chain(wanted.keys()).copied().collect();
        let tables = ids
            .into_iter()
            .map(|id| table_plan(id, registered.get(id).copied(), wanted.get(id).copied()))
            .collect();
        ConfigPlan { cadences, tables }
    }

    /// The cadences to write.
    pub fn cadence_writes(&self) -> impl Iterator<Item = &CadenceSettings> {
        self.cadences.iter().filter_map(|c| c.write.as_ref())
    }

    /// The tables to write.
    pub fn table_writes(&self) -> impl Iterator<Item = &RegisteredTable> {
        self.tables.iter().filter_map(|t| t.write.as_ref())
    }

    /// The counts of the plan.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            cadences: ActionCounts::count(self.cadences.iter().map(|c| c.action)),
            tables: ActionCounts::count(self.tables.iter().map(|t| t.action)),
            writes: self.cadence_writes().count() + self.table_writes().count(),
        }
    }
}

fn cadence_plan(
    name: &str,
    registered: Option<&&CadenceSettings>,
    wanted: Option<&&CadenceSettings>,
) -> CadencePlan {
    let as_json = |settings: Option<&&CadenceSettings>| {
        settings.and_then(|s| serde_json::to_value(CadenceEntry::from(*s)).ok())
    };
    let mut changes = Vec::new();
    if let Some(wanted) = wanted {
        diff(
            "",
            as_json(registered).as_ref(),
            as_json(Some(wanted)).as_ref(),
            &mut changes,
        );
    }
    let action = match (registered, wanted) {
        (_, None) => Action::Unchanged,
        (None, Some(_)) => Action::Add,
        (Some(_), Some(_)) if changes.is_empty() => Action::Unchanged,
        (Some(_), Some(_)) => Action::Change,
    };
    CadencePlan {
        name: name.to_owned(),
        action,
        in_manifest: wanted.is_some(),
        write: wanted
            .filter(|_| action != Action::Unchanged)
            .map(|settings| (*settings).clone()),
        changes,
    }
}

fn table_plan(
    table_id: &str,
    registered: Option<&RegisteredTable>,
    wanted: Option<&ManifestTable>,
) -> TablePlan {
    let mut changes = Vec::new();
    let (action, write) = match (registered, wanted) {
        (registered, Some(wanted)) => {
            let old = registered.map(|r| {
                (
                    Value::from(r.refresh_cadence.as_str()),
                    Value::from(r.active),
                )
            });
            let (old_cadence, old_active) = old.unzip();
            field_change(
                CADENCE_FIELD,
                old_cadence,
                Value::from(wanted.cadence.as_str()),
                &mut changes,
            );
            field_change(
                ACTIVE_FIELD,
                old_active,
                Value::from(wanted.active),
                &mut changes,
            );
            if let Some(registered) = registered {
                let new_spec = canonical_spec_value(&wanted.spec_json);
                diff(
                    "",
                    Some(&canonical_spec_value(&registered.spec_json)),
                    Some(&new_spec),
                    &mut changes,
                );
            }
            let action = match registered {
                None => Action::Add,
                Some(r) if !r.active && wanted.active => Action::Reactivate,
                Some(r) if r.active && !wanted.active => Action::Deactivate,
                Some(_) if changes.is_empty() => Action::Unchanged,
                Some(_) => Action::Change,
            };
            let write = (action != Action::Unchanged).then(|| wanted.registration());
            (action, write)
        }
        (Some(registered), None) if registered.active => {
            field_change(
                ACTIVE_FIELD,
                Some(Value::from(true)),
                Value::from(false),
                &mut changes,
            );
            let write = RegisteredTable {
                active: false,
                ..registered.clone()
            };
            (Action::Deactivate, Some(write))
        }
        _ => (Action::Unchanged, None),
    };
    TablePlan {
        table_id: table_id.to_owned(),
        action,
        in_manifest: wanted.is_some(),
        changes,
        write,
    }
}

/// Records `field: old → new` when they differ.
fn field_change(field: &str, old: Option<Value>, new: Value, changes: &mut Vec<FieldChange>) {
    if old.as_ref() != Some(&new) {
        changes.push(FieldChange {
            field: field.to_owned(),
            old,
            new: Some(new),
        });
    }
}

/// Name of the change of a whole item that is not an object (a stored configuration that is
/// not JSON, say).
const WHOLE_ITEM: &str = "(all)";

/// The changes from `old` to `new` under the dotted path `path`: objects field by field (an
/// absent object as one without fields), lists of equal length item by item, anything else as
/// one value.
fn diff(path: &str, old: Option<&Value>, new: Option<&Value>, changes: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    fn fields<'a>(
        value: Option<&'a Value>,
        none: &'a serde_json::Map<String, Value>,
    ) -> Option<&'a serde_json::Map<String, Value>> {
        match value {
            Some(Value::Object(fields)) => Some(fields),
            None => Some(none),
            Some(_) => None,
        }
    }
    let none = serde_json::Map::new();
    if let (Some(old), Some(new)) = (fields(old, &none), fields(new, &none)) {
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            diff(&field, old.get(key), new.get(key), changes);
        }
        return;
    }
    if let (Some(Value::Array(old)), Some(Value::Array(new))) = (old, new)
        && old.len() == new.len()
    {
        for (i, (old, new)) in old.iter().zip(new).enumerate() {
            diff(&format!("{path}[{i}]"), Some(old), Some(new), changes);
        }
        return;
    }
    changes.push(FieldChange {
        field: if path.is_empty() { WHOLE_ITEM } else { path }.to_owned(),
        old: old.cloned(),
        new: new.cloned(),
    });
}

#[cfg(test)]
#[path = "plan_test.rs"]
mod tests;
