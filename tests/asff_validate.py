#!/usr/bin/env python3
"""Validates hsmtrail's ASFF output against AWS's own API model of
`securityhub batch-import-findings` (botocore's service model and parameter validator: required
fields, types, lengths), plus the rules the model does not carry: a 12-digit account, ISO 8601
times, the Types namespaces and Severity labels, at most 100 findings a call.

    python3 tests/asff_validate.py FINDINGS.json

Exit status 0 when valid, 1 with the problems otherwise.
"""
import datetime
import json
import re
import sys

import botocore.session
from botocore.validate import ParamValidator

NAMESPACES = (
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
)
LABELS = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}


def main():
    findings = json.load(open(sys.argv[1]))
    problems = []
    if not isinstance(findings, list) or not findings:
        print("expected a non-empty JSON array of findings")
        sys.exit(1)
    model = botocore.session.get_session().get_service_model("securityhub")
    shape = model.operation_model("BatchImportFindings").input_shape
    for start in range(0, len(findings), 100):
        report = ParamValidator().validate({"Findings": findings[start : start + 100]}, shape)
        if report.has_errors():
            problems.append(report.generate_report())
    for f in findings:
        where = f.get("Id", "?")
        if not re.fullmatch(r"\d{12}", f.get("AwsAccountId", "")):
            problems.append(f"{where}: AwsAccountId is not 12 digits")
        for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
            try:
                datetime.datetime.fromisoformat(f[key].replace("Z", "+00:00"))
            except (KeyError, ValueError):
                problems.append(f"{where}: {key} is not an ISO 8601 time")
        if f["UpdatedAt"] < f["CreatedAt"]:
            problems.append(f"{where}: UpdatedAt before CreatedAt")
        for t in f.get("Types", []):
            if not t.startswith(tuple(ns + "/" for ns in NAMESPACES)) or t.count("/") > 2:
                problems.append(f"{where}: type '{t}' is not namespace/category/classifier")
        if f.get("Severity", {}).get("Label") not in LABELS:
            problems.append(f"{where}: Severity.Label not one of {sorted(LABELS)}")
        if len(f.get("Description", "")) > 1024 or len(f.get("Title", "")) > 256:
            problems.append(f"{where}: Description or Title too long")
        if not f.get("ProductArn", "").startswith("arn:aws"):
            problems.append(f"{where}: ProductArn is not an ARN")
    ids = [f["Id"] for f in findings]
    if len(set(ids)) != len(ids):
        problems.append("finding Ids repeat")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{len(findings)} findings valid")


if __name__ == "__main__":
    main()
