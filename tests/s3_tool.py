#!/usr/bin/env python3
"""Test helper for the S3 tests (tests/s3.rs): talks to the loopback moto server with boto3,
independently of hsmtrail's own S3 client.

    s3_tool.py ENDPOINT mb BUCKET
    s3_tool.py ENDPOINT put-dir BUCKET PREFIX LOCAL_DIR      # every file under LOCAL_DIR
    s3_tool.py ENDPOINT put BUCKET KEY LOCAL_FILE
    s3_tool.py ENDPOINT keys BUCKET [PREFIX]                  # one key per line
    s3_tool.py ENDPOINT get-dir BUCKET PREFIX LOCAL_DIR      # mirror keys under PREFIX
    s3_tool.py ENDPOINT iam-keys                              # create a user allowed S3; print ID SECRET
    s3_tool.py ENDPOINT iam-role                              # a user allowed only to assume a role
                                                              # allowed S3; print ID SECRET ROLE_ARN
    s3_tool.py ENDPOINT uploads BUCKET                        # unfinished multipart uploads
"""
import json
import os
import sys

import boto3


def client(endpoint, service="s3"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))


def allow(action):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def user_allowed(iam, name, action):
    """Creates a user allowed `action` on everything; returns its access key."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=allow(action))
    return iam.create_access_key(UserName=name)["AccessKey"]


def main():
    endpoint, command, *args = sys.argv[1:]
    s3 = client(endpoint)
    if command == "mb":
        s3.create_bucket(Bucket=args[0])
    elif command == "put-dir":
        bucket, prefix, local = args
        for root, _, files in os.walk(local):
            for name in files:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, local).replace(os.sep, "/")
                s3.upload_file(path, bucket, f"{prefix.rstrip('/')}/{rel}" if prefix else rel)
    elif command == "put-signed":
        # A CloudTrail bucket as CloudTrail writes it: each digest with its signature as
        # object metadata (x-amz-meta-signature), from a {key: signature} file.
        bucket, local, signatures = args
        signatures = json.load(open(signatures))
        for root, _, files in os.walk(local):
            for name in files:
                path = os.path.join(root, name)
                key = os.path.relpath(path, local).replace(os.sep, "/")
                extra = {}
                if key in signatures:
                    extra = {"Metadata": {"signature": signatures[key],
                                          "signature-algorithm": "SHA256withRSA"}}
                s3.upload_file(path, bucket, key, ExtraArgs=extra)
    elif command == "put":
        bucket, key, local = args
        s3.upload_file(local, bucket, key)
    elif command == "keys":
        bucket, prefix = args[0], (args[1] if len(args) > 1 else "")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                print(obj["Key"])
    elif command == "get-dir":
        bucket, prefix, local = args
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):].lstrip("/")
                path = os.path.join(local, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                s3.download_file(bucket, obj["Key"], path)
    elif command == "iam-keys":
        key = user_allowed(client(endpoint, "iam"), "reader", "s3:*")
        print(key["AccessKeyId"], key["SecretAccessKey"])
    elif command == "iam-role":
        iam = client(endpoint, "iam")
        key = user_allowed(iam, "assumer", "sts:AssumeRole")
        role = iam.create_role(RoleName="reader-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                           "Action": "sts:AssumeRole"}]}))["Role"]
        iam.put_role_policy(RoleName="reader-role", PolicyName="s3",
                            PolicyDocument=allow("s3:*"))
        print(key["AccessKeyId"], key["SecretAccessKey"], role["Arn"])
    elif command == "uploads":
        for upload in s3.list_multipart_uploads(Bucket=args[0]).get("Uploads", []):
            print(upload["Key"])
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
