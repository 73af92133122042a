//! The deployment definitions against the code (docs/DESIGN.md §12): the state machine's states,
//! the template's functions against the workspace's binaries, the build's architecture, and each
//! function's environment against its configuration. No emulator needed.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed step stops the test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tributary_shared::bootstrap::config::{
    BatchManagerConfig, ConfigError, FileManagerConfig, ProcessorConfig,
};
use tributary_shared::bootstrap::stack_template::{
    FunctionSpec, STATE_MACHINE_DEFINITION, StackTemplate,
};

/// The state machine's logical id.
const STATE_MACHINE: &str = "RefreshStateMachine";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn template() -> StackTemplate {
    StackTemplate::bundled().unwrap_or_else(|e| panic!("{e}"))
}

fn definition() -> Value {
    serde_json::from_str(STATE_MACHINE_DEFINITION)
        .unwrap_or_else(|e| panic!("infra/state-machine.asl.json is not JSON: {e}"))
}

fn state<'a>(states: &'a Value, name: &str) -> &'a Value {
    let found = &states[name];
    assert!(found.is_object(), "no state {name}");
    found
}

/// Every error name a state retries.
fn retried(state: &Value) -> BTreeSet<String> {
    state["Retry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

/// The names of the states reachable from `start` through Next, Default, Choices and Catch.
fn reachable(states: &Value, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let s = state(states, &name);
        let mut next: Vec<&Value> = vec![&s["Next"], &s["Default"]];
        next.extend(
            s["Choices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        next.extend(
            s["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        todo.extend(
            next.into_iter()
                .filter_map(|n| n.as_str().map(str::to_owned)),
        );
    }
    seen
}

const LAMBDA_TRANSIENT: [&str; 4] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

#[test]
fn the_state_machine_plans_then_maps_batches_then_fails_when_any_table_failed() {
    let asl = definition();
    assert!(
        asl["TimeoutSeconds"].as_u64().is_some_and(|t| t > 960),
        "the execution has a timeout longer than one processor invocation"
    );
    let states = &asl["States"];
    assert_eq!(asl["StartAt"], "PlanBatches");
    assert_eq!(
        reachable(states, "PlanBatches"),
        states
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        "every state is reachable and every target exists"
    );

    let plan = state(states, "PlanBatches");
    assert_eq!(plan["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(
        plan["Parameters"]["FunctionName"],
        "${BatchManagerFunctionArn}"
    );
    assert!(
        plan["Catch"].is_null(),
        "a planning error fails the execution"
    );
    for error in LAMBDA_TRANSIENT.iter().chain(&["StoreUnavailable"]) {
        assert!(
            retried(plan).contains(*error),
            "PlanBatches retries {error}"
        );
    }
    assert_eq!(plan["Next"], "RefreshBatches");

    let map = state(states, "RefreshBatches");
    assert_eq!(map["Type"], "Map");
    assert_eq!(map["ItemsPath"], "$.batches");
    assert_eq!(
        map["MaxConcurrencyPath"], "$.max_concurrency",
        "the concurrency comes from the cadence's batch settings"
    );
    let inner = &map["ItemProcessor"]["States"];
    let start = map["ItemProcessor"]["StartAt"].as_str().unwrap_or_default();
    let task = state(inner, start);
    assert_eq!(
        task["Parameters"]["FunctionName"],
        "${ProcessorFunctionArn}"
    );
    for error in LAMBDA_TRANSIENT {
        assert!(
            retried(task).contains(error),
            "the processor task retries {error}"
        );
    }
    let catch = task["Catch"].as_array().cloned().unwrap_or_default();
    assert!(
        catch.iter().any(|c| c["ErrorEquals"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e == "States.ALL"))),
        "a broken invocation is caught inside its Map item"
    );
    assert!(
        task["TimeoutSeconds"].as_u64().is_some(),
        "the processor task has a timeout"
    );

    // After the Map, some path leads to a Fail state with error TablesFailed.
    let after_map = reachable(states, map["Next"].as_str().unwrap_or_default());
    let fails: Vec<&Value> = after_map
        .iter()
        .map(|name| state(states, name))
        .filter(|s| s["Type"] == "Fail")
        .collect();
    assert!(
        fails.iter().any(|s| s["Error"] == "TablesFailed"),
        "the execution fails when a table failed"
    );
    assert!(
        after_map
            .iter()
            .any(|name| state(states, name)["Type"] == "Succeed"),
        "and succeeds otherwise"
    );
    assert!(
        !STATE_MACHINE_DEFINITION.contains("$LATEST"),
        "functions are invoked through aliases, never $LATEST"
    );
}

#[test]
fn the_template_substitutes_every_placeholder_of_the_definition_with_an_alias() {
    let template = template();
    let spec = template
        .state_machine(STATE_MACHINE)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.definition_file, "state-machine.asl.json");
    let placeholders: BTreeSet<String> = STATE_MACHINE_DEFINITION
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect();
    let substituted: BTreeSet<String> = spec.substitutions.keys().cloned().collect();
    assert_eq!(placeholders, substituted);
    for (name, reference) in &spec.substitutions {
        let tributary_shared::bootstrap::stack_template::Reference::Ref(target) = reference else {
            panic!("{name} is not a !Ref");
        };
        assert!(
            template
                .resources_of_type("AWS::Lambda::Alias")
                .contains(target),
            "{name} → {target} must be a Lambda alias"
        );
    }
}

/// The workspace's Lambda binaries: the packages under `functions/`.
fn function_binaries() -> BTreeSet<String> {
    std::fs::read_dir(workspace().join("functions"))
        .unwrap_or_else(|e| panic!("functions/: {e}"))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
        .collect()
}

fn functions() -> Vec<FunctionSpec> {
    template().functions().unwrap_or_else(|e| panic!("{e}"))
}

/// The binary a function's code key names (`…/<binary>.zip`).
fn zip_binary(function: &FunctionSpec) -> String {
    function
        .code_key
        .rsplit('/')
        .next()
        .and_then(|file| file.strip_suffix(".zip"))
        .unwrap_or_else(|| {
            panic!(
                "{}: code key {} is not a .zip",
                function.logical_id, function.code_key
            )
        })
        .to_owned()
}

#[test]
fn each_template_function_runs_one_workspace_binary_and_each_binary_is_deployed() {
    let functions = functions();
    let zips: BTreeSet<String> = functions.iter().map(zip_binary).collect();
    assert_eq!(zips.len(), functions.len(), "one zip per function");
    assert_eq!(zips, function_binaries());
    for function in &functions {
        assert_eq!(function.handler, "bootstrap", "{}", function.logical_id);
        assert_eq!(
            function.runtime, "provided.al2023",
            "{}",
            function.logical_id
        );
    }
    let makefile = std::fs::read_to_string(workspace().join("Makefile")).unwrap_or_default();
    let built = makefile
        .lines()
        .find_map(|line| line.strip_prefix("LAMBDA_BINARIES :="))
        .map(|list| {
            list.split_whitespace()
                .map(str::to_owned)
                .collect::<BTreeSet<_>>()
        });
    assert_eq!(
        built,
        Some(zips),
        "make lambda builds exactly the deployed binaries"
    );
}

#[test]
fn the_template_and_the_build_agree_on_the_architecture() {
    let makefile = std::fs::read_to_string(workspace().join("Makefile")).unwrap_or_default();
    let build_arch = makefile
        .lines()
        .find_map(|line| line.strip_prefix("ARCH ?="))
        .map(|arch| arch.trim().to_owned());
    assert_eq!(build_arch.as_deref(), Some("arm64"));
    assert_eq!(
        template().parameter_default("Architecture"),
        build_arch,
        "the template's default architecture is the build's"
    );
    for function in functions() {
        assert_eq!(
            function.architectures,
            vec!["arm64".to_owned()],
            "{} runs on the built architecture",
            function.logical_id
        );
    }
}

/// Reads a function's configuration with only the variables the template gives it: each
/// table and bucket name set (to a dummy), everything else left to its default.
fn configure(function: &FunctionSpec) -> Result<(), ConfigError> {
    let lookup = |name: &str| {
        let given = function.environment.iter().any(|v| v == name);
        (given && (name.ends_with("_TABLE") || name.ends_with("_BUCKET"))).then(|| "x".to_owned())
    };
    match zip_binary(function).as_str() {
        "file-manager" => FileManagerConfig::from_lookup(lookup).map(|_| ()),
        "batch-manager" => BatchManagerConfig::from_lookup(lookup).map(|_| ()),
        "processor" => ProcessorConfig::from_lookup(lookup).map(|_| ()),
        other => panic!("no configuration known for {other}"),
    }
}

#[test]
fn the_template_gives_each_function_every_variable_its_configuration_requires() {
    for function in functions() {
        assert_eq!(
            configure(&function).map_err(|e| e.to_string()),
            Ok(()),
            "{}",
            function.logical_id
        );
    }
}

#[test]
fn function_and_service_roles_grant_no_wildcard_actions_and_no_wildcard_resources_but_for_apis_without_resources()
 {
    // The only APIs granted on "*": CloudWatch Logs log delivery and X-Ray, which have no
    // resource-level permissions (the state machine's logging and tracing).
    let resource_less = |action: &str| {
        [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        ]
        .contains(&action)
    };
    let statements = template().role_allow_statements();
    assert!(
        statements.len() >= 10,
        "the roles' statements were read: {statements:?}"
    );
    for statement in &statements {
        let context = format!("{} {:?}", statement.role, statement.sid);
        assert!(!statement.actions.is_empty(), "{context}: no actions");
        for action in &statement.actions {
            assert!(!action.contains('*'), "{context}: wildcard action {action}");
        }
        if statement.resources.iter().any(|r| r.contains('*')) {
            assert!(
                statement.actions.iter().all(|a| resource_less(a)),
                "{context}: {:?} on {:?}",
                statement.actions,
                statement.resources
            );
        }
    }
    let roles: BTreeSet<&str> = statements.iter().map(|s| s.role.as_str()).collect();
    for function in functions() {
        let role = function.logical_id.replace("Function", "Role");
        assert!(
            roles.contains(role.as_str()),
            "{role} has its own policy: {roles:?}"
        );
    }
}
