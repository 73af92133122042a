//! Unit tests of the state machine's input.

use clap::Parser;

use super::*;

/// `tributary refresh` with these arguments, as clap parses them.
#[derive(Parser)]
struct Command {
    #[command(flatten)]
    args: RefreshArgs,
}

fn input(argv: &[&str]) -> String {
    let command = Command::try_parse_from([&["refresh"], argv].concat()).unwrap();
    serde_json::to_string(&run_request(&command.args)).unwrap()
}

#[test]
fn the_state_machine_input_is_the_cadence_and_only_the_tables_named() {
    assert_eq!(
        input(&["--cadence", "10min"]),
        r#"{"refresh_cadence":"10min"}"#,
        "a whole cadence: what its schedule sends"
    );
    assert_eq!(
        input(&[
            "--cadence",
            "10min",
            "--table",
            "sales/orders",
            "--table",
            "a.b"
        ]),
        r#"{"refresh_cadence":"10min","tables":["sales.orders","a.b"]}"#
    );
}
