"""Runs infra/state-machine.asl.json in moto's Step Functions interpreter against fake functions.

    .venv/bin/python -m unittest discover -s infra/tests      (part of `make infra-check`)

moto executes the definition (JSONPath filters, intrinsic functions, Map, Retry, Catch, Choice,
Fail) in process; the two Lambda invocations are answered by the fakes below, which follow the
contract of the batch-manager and the processor (infra/README.md). The interpreter is moto's, not
AWS's, so this proves the definition's logic, not every service quirk. One known divergence is
patched to AWS's behaviour (see `aws_json_path`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.utils import json_path

DEFINITION = Path(__file__).resolve().parents[1] / "state-machine.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BATCH_MANAGER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tributary-batch-manager:live"
PROCESSOR = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tributary-processor:live"
STATE_LIMIT = 256 * 1024

# moto logs every failed state at ERROR; the tests assert on the execution instead.
logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


# A path is indefinite (Jayway JsonPath, which Step Functions uses) when it has a wildcard, a filter,
# a slice, a union or a deep scan; it then yields a list, possibly empty.
INDEFINITE = re.compile(r"\[\*\]|\[\?\(|\[[^\]]*[:,][^\]]*\]|\.\.|\.\*")


def aws_json_path(original: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """moto's JSONPath evaluation with AWS's answer for an indefinite path that matches nothing.

    On AWS, `$.results[?(@.failed > 0)]` or `$.results[*].failed_tables[*]` matching nothing yield
    `[]`; moto 5.2.5 raises "could not be found" (a States.Runtime error) unless the path is a plain
    wildcard or slice (getmoto/moto#10078).
    """

    def extract_json(path: str, data: Any) -> Any:
        try:
            return original(path, data)
        except json_path.NoSuchJsonPathError:
            if INDEFINITE.search(path):
                return []
            raise

    return extract_json


def patch_json_path(test: unittest.TestCase) -> None:
    """Applies `aws_json_path` wherever moto's interpreter imported `extract_json`."""
    original = json_path.extract_json
    replacement = aws_json_path(original)
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "extract_json", None) is original:
            patcher = mock.patch.object(module, "extract_json", replacement)
            patcher.start()
            test.addCleanup(patcher.stop)


class FunctionError(Exception):
    """What a function returns as an error (Lambda reports FunctionError: Unhandled)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def throttled() -> ClientError:
    """The Invoke API's throttling reply (Step Functions names it Lambda.TooManyRequestsException)."""
    return ClientError(
        {
            "Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
            "ResponseMetadata": {"HTTPStatusCode": 429, "RequestId": "test"},
        },
        "Invoke",
    )


def plan(cadence: str, batches: list[list[str]], max_concurrency: int = 4) -> dict:
    """A batch-manager answer with these batches of table ids."""
    scheduled = sum(len(tables) for tables in batches)
    return {
        "refresh_cadence": cadence,
        "max_concurrency": max_concurrency,
        "batches": [
            {"refresh_cadence": cadence, "batch": number, "tables": tables}
            for number, tables in enumerate(batches)
        ],
        "tables": {"registered": scheduled + 3, "inactive": 1, "idle": 2, "scheduled": scheduled},
    }


def table_summary(table: str, outcome: str) -> dict:
    """One table of a processor answer, with the fields the real processor reports."""
    summary = {
        "table": table,
        "outcome": outcome,
        "refreshes": 1,
        "files": 3,
        "inserted": 120,
        "updated": 40,
        "deleted": 2,
        "ignored": 0,
        "bytes_read": 81234,
        "bytes_written": 40210,
        "partitions_rewritten": 5,
        "more_pending": False,
        "lag_seconds": 312,
        "duration_ms": 1840,
    }
    if outcome == "failed":
        summary["error"] = "storage error: " + "x" * 900
    return summary


def processed(batch: dict, outcomes: dict[str, str] | None = None) -> dict:
    """A processor answer for `batch`: every table completed unless `outcomes` says otherwise."""
    outcomes = outcomes or {}
    tables = [table_summary(t, outcomes.get(t, "completed")) for t in batch["tables"]]
    return {
        "refresh_cadence": batch["refresh_cadence"],
        "batch": batch["batch"],
        "failed": sum(1 for t in tables if t["outcome"] == "failed"),
        "tables": tables,
    }


class FakeFunctions:
    """Answers the state machine's lambda:invoke calls and records them."""

    def __init__(self, batch_manager: Callable[[dict], Any], processor: Callable[[dict], Any]):
        self.handlers = {BATCH_MANAGER: batch_manager, PROCESSOR: processor}
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def invoke(self, parameters: dict, region: str, state_credentials: Any) -> dict:
        function = parameters["FunctionName"]
        payload = json.loads(parameters["Payload"])
        with self.lock:
            self.calls.append((function, payload))
        try:
            result = self.handlers[function](payload)
        except FunctionError as error:
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": {"errorType": error.error_type, "errorMessage": str(error)},
            }
        return {"StatusCode": 200, "Payload": result}

    def payloads(self, function: str) -> list[dict]:
        with self.lock:
            return [payload for name, payload in self.calls if name == function]


class RefreshStateMachineTest(unittest.TestCase):
    def setUp(self) -> None:
        self.aws = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self.aws.start()
        self.addCleanup(self.aws.stop)
        patch_json_path(self)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = DEFINITION.read_text(encoding="utf-8")
        definition = definition.replace("${BatchManagerFunctionArn}", BATCH_MANAGER)
        definition = definition.replace("${ProcessorFunctionArn}", PROCESSOR)
        self.state_machine = self.sfn.create_state_machine(
            name="tributary-refresh",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/tributary/refresh",
            type="STANDARD",
        )["stateMachineArn"]

    def run_execution(self, functions: FakeFunctions, execution_input: dict) -> dict:
        with mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", functions.invoke):
            arn = self.sfn.start_execution(
                stateMachineArn=self.state_machine, input=json.dumps(execution_input)
            )["executionArn"]
            deadline = time.monotonic() + 120
            while True:
                execution = self.sfn.describe_execution(executionArn=arn)
                if execution["status"] != "RUNNING":
                    break
                self.assertLess(time.monotonic(), deadline, "the execution did not finish")
                time.sleep(0.05)
        execution["history"] = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)[
            "events"
        ]
        return execution

    def assert_states_fit_the_payload_limit(self, execution: dict) -> None:
        for event in execution["history"]:
            for details in event.values():
                if isinstance(details, dict):
                    for key in ("input", "output"):
                        size = len(details.get(key, "").encode("utf-8"))
                        self.assertLess(size, STATE_LIMIT, f"{event['type']} {key}: {size} bytes")

    def test_every_batch_refreshed_succeeds_and_each_processor_gets_exactly_its_batch(self):
        batches = [["sales.orders", "sales.items"], ["sales.customers", "hr.staff"], ["hr.teams"]]
        outcomes = {
            "sales.items": "no_files",
            "sales.customers": "busy",
            "hr.staff": "deferred",
            "hr.teams": "inactive",
        }
        planned = plan("10min", batches, max_concurrency=2)
        for item in planned["batches"]:
            item["pending_files"] = 7  # a field the processor would reject: the Map drops it
        functions = FakeFunctions(lambda _: planned, lambda batch: processed(batch, outcomes))
        manual_input = {"refresh_cadence": "10min", "tables": ["sales.orders"], "include_idle": True}

        execution = self.run_execution(functions, manual_input)

        self.assertEqual(execution["status"], "SUCCEEDED", execution.get("cause"))
        self.assertEqual(functions.payloads(BATCH_MANAGER), [manual_input])
        received = sorted(functions.payloads(PROCESSOR), key=lambda p: p["batch"])
        self.assertEqual(
            received,
            [{"refresh_cadence": "10min", "batch": n, "tables": t} for n, t in enumerate(batches)],
        )
        output = json.loads(execution["output"])
        self.assertEqual(output["batches"], 3)
        self.assertEqual(output["failed_batch_count"], 0)
        self.assertEqual(output["failed_table_count"], 0)
        self.assertEqual(output["tables"]["scheduled"], 5)

    def test_the_plans_max_concurrency_bounds_the_parallel_invocations(self):
        running = 0
        peak = 0
        lock = threading.Lock()

        def processor(batch: dict) -> dict:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.2)
            with lock:
                running -= 1
            return processed(batch)

        batches = [[f"s.t{n}"] for n in range(6)]
        functions = FakeFunctions(lambda _: plan("10min", batches, max_concurrency=2), processor)

        execution = self.run_execution(functions, {"refresh_cadence": "10min"})

        self.assertEqual(execution["status"], "SUCCEEDED", execution.get("cause"))
        self.assertEqual(len(functions.payloads(PROCESSOR)), 6)
        self.assertEqual(peak, 2)

    def test_a_failed_table_fails_the_execution_after_every_batch_ran(self):
        batches = [["sales.orders", "sales.items"], ["sales.customers"], ["hr.staff", "hr.teams"]]
        functions = FakeFunctions(
            lambda _: plan("hourly", batches),
            lambda batch: processed(batch, {"sales.items": "failed", "hr.teams": "failed"}),
        )

        execution = self.run_execution(functions, {"refresh_cadence": "hourly"})

        self.assertEqual(execution["status"], "FAILED")
        self.assertEqual(execution["error"], "TablesFailed")
        self.assertEqual(
            execution["cause"],
            '2 table(s) failed in 2 of 3 batch(es) of cadence hourly; failed batches: [0,2]; '
            'first failed tables: ["sales.items","hr.teams"]',
        )
        self.assertEqual(sorted(p["batch"] for p in functions.payloads(PROCESSOR)), [0, 1, 2])

    def test_a_broken_invocation_fails_only_its_batch_and_counts_its_tables(self):
        batches = [["sales.orders", "sales.items"], ["sales.customers"], ["hr.staff"]]

        def processor(batch: dict) -> dict:
            if batch["batch"] == 0:
                raise FunctionError("InvalidBatch", "the batch cannot be read")
            return processed(batch)

        functions = FakeFunctions(lambda _: plan("10min", batches), processor)

        execution = self.run_execution(functions, {"refresh_cadence": "10min"})

        self.assertEqual(execution["status"], "FAILED")
        self.assertEqual(execution["error"], "TablesFailed")
        self.assertTrue(
            execution["cause"].startswith(
                "2 table(s) failed in 1 of 3 batch(es) of cadence 10min; failed batches: [0]; "
                'first failed tables: ["sales.orders","sales.items"]'
            ),
            execution["cause"],
        )
        self.assertEqual(sorted(p["batch"] for p in functions.payloads(PROCESSOR)), [0, 1, 2])
        summary = self.state_output(execution, "CountFailures")
        (broken,) = summary["failed_batches"]
        self.assertEqual(broken["failed"], 2)
        self.assertEqual(broken["error"]["Error"], "InvalidBatch")

    def test_an_unknown_cadence_fails_the_execution_and_refreshes_nothing(self):
        def batch_manager(_: dict) -> dict:
            raise FunctionError("UnknownCadence", "no cadence named 'weekly'")

        functions = FakeFunctions(batch_manager, processed)

        execution = self.run_execution(functions, {"refresh_cadence": "weekly"})

        self.assertEqual(execution["status"], "FAILED")
        self.assertEqual(execution["error"], "UnknownCadence")
        self.assertEqual(functions.payloads(PROCESSOR), [])

    def test_nothing_scheduled_succeeds(self):
        functions = FakeFunctions(lambda _: plan("daily", []), processed)

        execution = self.run_execution(functions, {"refresh_cadence": "daily"})

        self.assertEqual(execution["status"], "SUCCEEDED", execution.get("cause"))
        self.assertEqual(json.loads(execution["output"])["batches"], 0)
        self.assertEqual(functions.payloads(PROCESSOR), [])

    def test_a_throttled_invocation_is_retried(self):
        attempts: dict[int, int] = {}
        lock = threading.Lock()

        def processor(batch: dict) -> dict:
            with lock:
                attempts[batch["batch"]] = attempts.get(batch["batch"], 0) + 1
                first = attempts[batch["batch"]] == 1
            if batch["batch"] == 1 and first:
                raise throttled()
            return processed(batch)

        functions = FakeFunctions(lambda _: plan("10min", [["a.one"], ["a.two"]]), processor)

        execution = self.run_execution(functions, {"refresh_cadence": "10min"})

        self.assertEqual(execution["status"], "SUCCEEDED", execution.get("cause"))
        self.assertEqual(attempts, {0: 1, 1: 2})

    def test_a_thousand_tables_keep_every_state_below_the_payload_limit(self):
        batches = [[f"schema{b}.table{t:02}" for t in range(20)] for b in range(50)]
        failing = {tables[7] for tables in batches}
        functions = FakeFunctions(
            lambda _: plan("10min", batches, max_concurrency=10),
            lambda batch: processed(batch, {t: "failed" for t in failing}),
        )

        execution = self.run_execution(functions, {"refresh_cadence": "10min"})

        self.assertEqual(execution["status"], "FAILED")
        self.assertEqual(execution["error"], "TablesFailed")
        self.assertTrue(execution["cause"].startswith("50 table(s) failed in 50 of 50 batch(es)"))
        self.assertLess(len(execution["cause"]), 2048)
        self.assert_states_fit_the_payload_limit(execution)
        summary = self.state_output(execution, "CountFailures")
        self.assertEqual(summary["failed_table_count"], 50)
        self.assertEqual(len(summary["first_failed_tables"]), 20)

    def state_output(self, execution: dict, state: str) -> dict:
        for event in execution["history"]:
            details = event.get("stateExitedEventDetails")
            if details and details["name"] == state:
                return json.loads(details["output"])
        self.fail(f"state {state} did not run")


if __name__ == "__main__":
    unittest.main()
