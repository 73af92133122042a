#!/usr/bin/env python3
"""Renders infra/template.yaml into the template that is linted and deployed.

    scripts/render-template.py [infra/template.yaml] [dist/infra/template.json]

The source template names the state machine definition by file, the packaging convention
(`DefinitionS3Location: ./state-machine.asl.json`). This script reads the template with cfn-lint's
own decoder (which understands the short-form intrinsics such as !Sub and !Ref), replaces every
such file reference with `Definition` = the parsed ASL document, and writes plain JSON. So
cfn-lint (E3601 validates the inlined definition), checkov and `make deploy` all see the same
file, and no S3 upload of the definition is needed.

It fails when a definition file is missing or not JSON, when the template cannot be decoded, or
when the definition's ${...} placeholders and the resource's DefinitionSubstitutions differ.
Run it with the project venv's Python (cfn-lint is installed there).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

STATE_MACHINE = "AWS::StepFunctions::StateMachine"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def fail(message: str) -> None:
    print(f"render-template: {message}", file=sys.stderr)
    sys.exit(1)


def placeholders(value: object) -> set[str]:
    """Every ${name} in the strings of a JSON value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value), set())
    return set()


def plain(value: object) -> object:
    """The decoder's node types (dict/str/list subclasses carrying line marks) as plain JSON values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def inline_definitions(template: dict, base: Path) -> list[str]:
    """Replaces file references of state machines by their parsed definitions; returns the ids."""
    inlined = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != STATE_MACHINE:
            continue
        properties = resource.get("Properties") or {}
        location = properties.get("DefinitionS3Location")
        if not isinstance(location, str):
            continue
        path = (base / location).resolve()
        try:
            definition = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            fail(f"{logical_id}: definition file {location} not found (looked at {path})")
        except json.JSONDecodeError as error:
            fail(f"{logical_id}: {location} is not JSON: {error}")
        substitutions = set((properties.get("DefinitionSubstitutions") or {}).keys())
        used = placeholders(definition)
        if used != substitutions:
            missing = sorted(used - substitutions)
            unused = sorted(substitutions - used)
            fail(
                f"{logical_id}: placeholders of {location} and DefinitionSubstitutions differ "
                f"(no substitution for {missing}, substitutions not used: {unused})"
            )
        del properties["DefinitionS3Location"]
        properties["Definition"] = definition
        inlined.append(logical_id)
    return inlined


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml")
    target = Path(sys.argv[2] if len(sys.argv) > 2 else "dist/infra/template.json")
    template, problems = decode(str(source))
    if problems or template is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        fail(f"cannot decode {source}")
    template = plain(template)
    inlined = inline_definitions(template, source.parent)
    if not inlined:
        fail(f"{source}: no {STATE_MACHINE} with a DefinitionS3Location file reference")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(template, indent=1) + "\n", encoding="utf-8")
    temporary.replace(target)
    print(f"render-template: {target} ({target.stat().st_size} bytes; inlined {', '.join(inlined)})")


if __name__ == "__main__":
    main()
