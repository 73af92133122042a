//! The stack's own resource definitions, read from `infra/template.yaml` (bundled into the
//! binary) — the single definition of the DynamoDB tables, the queues and the state machine. The
//! local environment and the tests create their resources from it, so what runs locally cannot
//! drift from what is deployed (docs/DESIGN.md §12).
//!
//! Only what a local copy of a resource needs is read: key schemas, indexes and TTL of tables,
//! timeouts and redrive of queues, the state machine's definition file and substitutions, the
//! functions' code and runtime settings. Intrinsic functions (`!Ref`, `!GetAtt`, `!Sub`) are read
//! as references, never evaluated against AWS.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;
use serde_yaml_ng::value::TaggedValue;
use thiserror::Error;

/// The CloudFormation template, as committed.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// The state machine's Amazon States Language definition, as committed (the template refers to
/// it by file name).
pub const STATE_MACHINE_DEFINITION: &str = include_str!("../../../infra/state-machine.asl.json");

/// The template cannot be read, or a resource is not what the code expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The text is not YAML, or has no `Resources` map.
    #[error("the stack template is unreadable: {0}")]
    Unreadable(String),
    /// No resource has this logical id.
    #[error("the stack template has no resource {0}")]
    MissingResource(String),
    /// The resource exists with another type.
    #[error("resource {logical_id} is a {found}, not a {expected}")]
    WrongType {
        /// The logical id.
        logical_id: String,
        /// The type the code needs.
        expected: &'static str,
        /// The type in the template.
        found: String,
    },
    /// A property is missing or has an unexpected shape.
    #[error("resource {logical_id}: property {property} {problem}")]
    BadProperty {
        /// The logical id.
        logical_id: String,
        /// The property path.
        property: String,
        /// What is wrong.
        problem: String,
    },
}

/// A reference from one resource property to another resource or a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `!Ref X`: the resource's name/ARN (or a parameter's value).
    Ref(String),
    /// `!GetAtt X.Attribute`.
    GetAtt(String, String),
}

/// A DynamoDB key element.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    /// The attribute.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// A DynamoDB attribute definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// The attribute.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// A global secondary index's projection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    /// The projected non-key attributes of `INCLUDE`.
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    /// The index name.
    pub index_name: String,
    /// Its keys.
    pub key_schema: Vec<KeyElement>,
    /// What it projects.
    pub projection: ProjectionSpec,
}

/// A table's TTL setting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    /// The TTL attribute (epoch seconds).
    pub attribute_name: String,
    /// Whether expiry is on.
    pub enabled: bool,
}

/// An `AWS::DynamoDB::Table`, as far as a local copy needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DynamoDbTableSpec {
    /// Key and index attributes.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// The primary key.
    pub key_schema: Vec<KeyElement>,
    /// Global secondary indexes.
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    /// Item expiry.
    #[serde(default)]
    pub time_to_live_specification: Option<TtlSpec>,
}

impl DynamoDbTableSpec {
    /// The key attribute of `key_type` (`HASH` or `RANGE`) in `schema`.
    pub fn key(schema: &[KeyElement], key_type: &str) -> Option<String> {
        schema
            .iter()
            .find(|k| k.key_type == key_type)
            .map(|k| k.attribute_name.clone())
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&IndexSpec> {
        self.global_secondary_indexes
            .iter()
            .find(|i| i.index_name == name)
    }

    /// The TTL attribute, when expiry is enabled.
    pub fn ttl_attribute(&self) -> Option<&str> {
        self.time_to_live_specification
            .as_ref()
            .filter(|t| t.enabled)
            .map(|t| t.attribute_name.as_str())
    }
}

/// An `AWS::SQS::Queue`, as far as a local copy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Seconds a received message stays invisible.
    pub visibility_timeout: Option<u64>,
    /// Seconds a message is kept.
    pub message_retention_period: Option<u64>,
    /// Where messages go after too many receives: the dead-letter queue's logical id and the
    /// receive count.
    pub redrive: Option<(String, u64)>,
}

/// An `AWS::S3::Bucket`, as far as a local copy needs it: the behaviour Tributary relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpec {
    /// `VersioningConfiguration.Status` is `Enabled`: every write of a key is a new version.
    pub versioned: bool,
    /// `NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled` is true.
    pub eventbridge_notifications: bool,
}

/// An `AWS::Lambda::Function`, as far as the build and a local run need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The logical id.
    pub logical_id: String,
    /// The handler (`bootstrap` for custom runtimes).
    pub handler: String,
    /// The runtime, e.g. `provided.al2023`.
    pub runtime: String,
    /// The architectures (literal values or parameter defaults).
    pub architectures: Vec<String>,
    /// The code's S3 key, as written in the template (a `!Sub` pattern).
    pub code_key: String,
    /// Seconds before the function is stopped (literal or parameter default).
    pub timeout: Option<u64>,
    /// The environment variable names it is given.
    pub environment: Vec<String>,
}

/// An `AWS::StepFunctions::StateMachine`, as far as a local copy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineSpec {
    /// The ASL file the template refers to (relative to `infra/`).
    pub definition_file: String,
    /// `${Name}` → the resource or parameter it stands for.
    pub substitutions: BTreeMap<String, Reference>,
}

/// One `Allow` statement of an IAM role's inline policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowStatement {
    /// The role's logical id.
    pub role: String,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
    /// The actions granted.
    pub actions: Vec<String>,
    /// Each resource: a literal (such as `*`), or `ref` for any intrinsic (a reference to one of
    /// the stack's resources or an ARN built from them).
    pub resources: Vec<String>,
}

/// A parsed stack template.
#[derive(Debug, Clone)]
pub struct StackTemplate {
    root: Value,
}

impl StackTemplate {
    /// The committed template.
    pub fn bundled() -> Result<StackTemplate, TemplateError> {
        StackTemplate::parse(TEMPLATE)
    }

    /// Parses a template's text.
    pub fn parse(text: &str) -> Result<StackTemplate, TemplateError> {
        let root: Value =
            serde_yaml_ng::from_str(text).map_err(|e| TemplateError::Unreadable(e.to_string()))?;
        if !root.get("Resources").is_some_and(Value::is_mapping) {
            return Err(TemplateError::Unreadable(
                "it has no Resources map".to_owned(),
            ));
        }
        Ok(StackTemplate { root })
    }

    /// The logical ids of the resources of `resource_type`, in template order.
    pub fn resources_of_type(&self, resource_type: &str) -> Vec<String> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter(|(_, resource)| {
                resource.get("Type").and_then(Value::as_str) == Some(resource_type)
            })
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
            .collect()
    }

    /// The default of parameter `name`, as text.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        scalar_text(self.root.get("Parameters")?.get(name)?.get("Default")?)
    }

    /// The physical name the stack gives resource `logical_id` (of `resource_type`): the value of
    /// its `property` (a dotted path such as `DatabaseInput.Name`), a literal, a `!Ref` to a
    /// parameter or a `!Sub` pattern. `${X}` and `!Ref X` are resolved from `values` (parameters
    /// and pseudo parameters such as `AWS::Region`), else from the parameter's default.
    pub fn resource_name(
        &self,
        logical_id: &str,
        resource_type: &'static str,
        property: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        let properties = self.properties(logical_id, resource_type)?;
        let value = property
            .split('.')
            .try_fold(properties, |value, part| value.get(part))
            .ok_or_else(|| bad(logical_id, property, "is missing"))?;
        let lookup = |name: &str| {
            values
                .get(name)
                .cloned()
                .or_else(|| self.parameter_default(name))
                .ok_or_else(|| {
                    bad(
                        logical_id,
                        property,
                        &format!("refers to {name}, which has no value"),
                    )
                })
        };
        if let Some(Reference::Ref(name)) = reference(value) {
            return lookup(&name);
        }
        let pattern = sub_pattern(value)
            .ok_or_else(|| bad(logical_id, property, "is not a name, !Ref or !Sub"))?;
        let mut name = String::new();
        let mut rest = pattern.as_str();
        while let Some(start) = rest.find("${") {
            let (literal, placeholder) = rest.split_at(start);
            let end = placeholder
                .find('}')
                .ok_or_else(|| bad(logical_id, property, "has an unclosed ${"))?;
            name.push_str(literal);
            name.push_str(&lookup(&placeholder[2..end])?);
            rest = &placeholder[end + 1..];
        }
        name.push_str(rest);
        Ok(name)
    }

    /// The properties of resource `logical_id`, which must be of `resource_type`.
    fn properties(
        &self,
        logical_id: &str,
        resource_type: &'static str,
    ) -> Result<&Value, TemplateError> {
        let resource = self
            .root
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .ok_or_else(|| TemplateError::MissingResource(logical_id.to_owned()))?;
        let found = resource.get("Type").and_then(Value::as_str).unwrap_or("?");
        if found != resource_type {
            return Err(TemplateError::WrongType {
                logical_id: logical_id.to_owned(),
                expected: resource_type,
                found: found.to_owned(),
            });
        }
        resource
            .get("Properties")
            .ok_or_else(|| bad(logical_id, "Properties", "is missing"))
    }

    /// The DynamoDB table `logical_id`.
    pub fn dynamodb_table(&self, logical_id: &str) -> Result<DynamoDbTableSpec, TemplateError> {
        let properties = self.properties(logical_id, "AWS::DynamoDB::Table")?;
        // Only the plain-data properties are read; `TableName` and friends hold intrinsics.
        let mut plain = serde_yaml_ng::Mapping::new();
        for name in [
            "AttributeDefinitions",
            "KeySchema",
            "GlobalSecondaryIndexes",
            "TimeToLiveSpecification",
        ] {
            if let Some(value) = properties.get(name) {
                plain.insert(Value::from(name), value.clone());
            }
        }
        serde_yaml_ng::from_value(Value::Mapping(plain))
            .map_err(|e| bad(logical_id, "(key schema)", &e.to_string()))
    }

    /// The SQS queue `logical_id`.
    pub fn queue(&self, logical_id: &str) -> Result<QueueSpec, TemplateError> {
        let properties = self.properties(logical_id, "AWS::SQS::Queue")?;
        let number = |name: &str| -> Result<Option<u64>, TemplateError> {
            properties
                .get(name)
                .map(|v| {
                    self.number(v)
                        .ok_or_else(|| bad(logical_id, name, "is not a number"))
                })
                .transpose()
        };
        let redrive = match properties.get("RedrivePolicy") {
            None => None,
            Some(policy) => {
                let target = policy
                    .get("deadLetterTargetArn")
                    .and_then(reference)
                    .and_then(|r| match r {
                        Reference::GetAtt(id, attribute) if attribute == "Arn" => Some(id),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        bad(
                            logical_id,
                            "RedrivePolicy.deadLetterTargetArn",
                            "is not a !GetAtt <queue>.Arn",
                        )
                    })?;
                let count = policy
                    .get("maxReceiveCount")
                    .and_then(|v| self.number(v))
                    .ok_or_else(|| {
                        bad(
                            logical_id,
                            "RedrivePolicy.maxReceiveCount",
                            "is not a number",
                        )
                    })?;
                Some((target, count))
            }
        };
        Ok(QueueSpec {
            visibility_timeout: number("VisibilityTimeout")?,
            message_retention_period: number("MessageRetentionPeriod")?,
            redrive,
        })
    }

    /// The S3 bucket `logical_id`.
    pub fn bucket(&self, logical_id: &str) -> Result<BucketSpec, TemplateError> {
        let properties = self.properties(logical_id, "AWS::S3::Bucket")?;
        let versioning = properties
            .get("VersioningConfiguration")
            .map(|v| {
                v.get("Status")
                    .and_then(|s| self.text(s))
                    .ok_or_else(|| bad(logical_id, "VersioningConfiguration.Status", "is not text"))
            })
            .transpose()?;
        let eventbridge = properties
            .get("NotificationConfiguration")
            .and_then(|n| n.get("EventBridgeConfiguration"))
            .and_then(|e| e.get("EventBridgeEnabled"))
            .map(|enabled| {
                self.text(enabled).ok_or_else(|| {
                    bad(
                        logical_id,
                        "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled",
                        "is not a boolean",
                    )
                })
            })
            .transpose()?;
        Ok(BucketSpec {
            versioned: versioning.as_deref() == Some("Enabled"),
            eventbridge_notifications: eventbridge.as_deref() == Some("true"),
        })
    }

    /// Every Lambda function of the stack, in template order.
    pub fn functions(&self) -> Result<Vec<FunctionSpec>, TemplateError> {
        self.resources_of_type("AWS::Lambda::Function")
            .into_iter()
            .map(|logical_id| self.function(&logical_id))
            .collect()
    }

    /// The Lambda function `logical_id`.
    pub fn function(&self, logical_id: &str) -> Result<FunctionSpec, TemplateError> {
        let properties = self.properties(logical_id, "AWS::Lambda::Function")?;
        let text = |name: &str| {
            properties
                .get(name)
                .and_then(|v| self.text(v))
                .ok_or_else(|| bad(logical_id, name, "is missing or not text"))
        };
        let code_key = properties
            .get("Code")
            .and_then(|c| c.get("S3Key"))
            .and_then(sub_pattern)
            .ok_or_else(|| bad(logical_id, "Code.S3Key", "is missing or not a !Sub"))?;
        let architectures = properties
            .get("Architectures")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(|v| {
                self.text(v)
                    .ok_or_else(|| bad(logical_id, "Architectures", "holds a non-text value"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let environment = properties
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .collect();
        Ok(FunctionSpec {
            logical_id: logical_id.to_owned(),
            handler: text("Handler")?,
            runtime: text("Runtime")?,
            architectures,
            code_key,
            timeout: properties.get("Timeout").and_then(|v| self.number(v)),
            environment,
        })
    }

    /// The state machine `logical_id`.
    pub fn state_machine(&self, logical_id: &str) -> Result<StateMachineSpec, TemplateError> {
        let properties = self.properties(logical_id, "AWS::StepFunctions::StateMachine")?;
        let definition_file = properties
            .get("DefinitionS3Location")
            .and_then(Value::as_str)
            .map(|path| path.trim_start_matches("./").to_owned())
            .ok_or_else(|| {
                bad(
                    logical_id,
                    "DefinitionS3Location",
                    "is not the path of the ASL file next to the template",
                )
            })?;
        let substitutions = properties
            .get("DefinitionSubstitutions")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let name = name.as_str().unwrap_or_default().to_owned();
                reference(value).map(|r| (name.clone(), r)).ok_or_else(|| {
                    bad(
                        logical_id,
                        &format!("DefinitionSubstitutions.{name}"),
                        "is not a !Ref or !GetAtt",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(StateMachineSpec {
            definition_file,
            substitutions,
        })
    }

    /// Every `Allow` statement of every IAM role's inline policies, in template order.
    pub fn role_allow_statements(&self) -> Vec<AllowStatement> {
        let mut statements = Vec::new();
        for role in self.resources_of_type("AWS::IAM::Role") {
            let policies = self
                .root
                .get("Resources")
                .and_then(|r| r.get(&role))
                .and_then(|r| r.get("Properties"))
                .and_then(|p| p.get("Policies"));
            for policy in listed(policies) {
                let document = policy.get("PolicyDocument");
                for statement in listed(document.and_then(|d| d.get("Statement"))) {
                    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                        continue;
                    }
                    statements.push(AllowStatement {
                        role: role.clone(),
                        sid: statement
                            .get("Sid")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        actions: listed(statement.get("Action"))
                            .into_iter()
                            .map(|a| scalar_text(a).unwrap_or_else(|| "ref".to_owned()))
                            .collect(),
                        resources: listed(statement.get("Resource"))
                            .into_iter()
                            .map(|r| scalar_text(r).unwrap_or_else(|| "ref".to_owned()))
                            .collect(),
                    });
                }
            }
        }
        statements
    }

    /// A literal scalar, or a `!Ref` to a parameter with a default, as text.
    fn text(&self, value: &Value) -> Option<String> {
        match reference(value) {
            Some(Reference::Ref(name)) => self.parameter_default(&name),
            Some(Reference::GetAtt(..)) => None,
            None => scalar_text(value),
        }
    }

    /// A literal number, or a `!Ref` to a parameter with a numeric default.
    fn number(&self, value: &Value) -> Option<u64> {
        self.text(value)?.parse().ok()
    }
}

/// A policy element that may be one item or a list of them, as a list.
fn listed(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    }
}

fn bad(logical_id: &str, property: &str, problem: &str) -> TemplateError {
    TemplateError::BadProperty {
        logical_id: logical_id.to_owned(),
        property: property.to_owned(),
        problem: problem.to_owned(),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The intrinsic function `value` is, in short (`!Ref X`) or long (`{"Ref": X}`) form.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            let name = tag.to_string();
            let name = name.trim_start_matches('!');
            let long = if name == "Ref" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            Some((long, value))
        }
        Value::Mapping(map) if map.len() == 1 => map
            .iter()
            .next()
            .and_then(|(k, v)| k.as_str().map(|k| (k.to_owned(), v))),
        _ => None,
    }
}

/// `value` as a `Ref` or `GetAtt`.
fn reference(value: &Value) -> Option<Reference> {
    let (function, argument) = intrinsic(value)?;
    match function.as_str() {
        "Ref" => argument.as_str().map(|s| Reference::Ref(s.to_owned())),
        "Fn::GetAtt" => match argument {
            Value::String(s) => s
                .split_once('.')
                .map(|(id, attribute)| Reference::GetAtt(id.to_owned(), attribute.to_owned())),
            Value::Sequence(parts) => match parts.as_slice() {
                [id, attribute] => Some(Reference::GetAtt(
                    id.as_str()?.to_owned(),
                    attribute.as_str()?.to_owned(),
                )),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// The pattern of a `!Sub` (string form, or the first element of the list form), or a literal.
fn sub_pattern(value: &Value) -> Option<String> {
    match intrinsic(value) {
        Some((function, argument)) if function == "Fn::Sub" => match argument {
            Value::String(s) => Some(s.clone()),
            Value::Sequence(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        },
        Some(_) => None,
        None => value.as_str().map(str::to_owned),
    }
}

#[cfg(test)]
#[path = "stack_template_test.rs"]
mod tests;
