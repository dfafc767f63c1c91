#!/usr/bin/env python3
"""Makes an IAM user with an access key allowed s3:* on a moto server started with
INITIAL_NO_AUTH_ACTION_COUNT=6 (these six IAM calls are the only unauthenticated ones; every later
request must be signed with this key, and a wrong secret fails with SignatureDoesNotMatch), then
creates the test bucket with the new key, and a second user that may only list and read
(s3:ListBucket, s3:GetObject: a key that lists a location but cannot write into it). Prints
`ACCESS_KEY SECRET LIST_ONLY_ACCESS_KEY LIST_ONLY_SECRET`.
Usage: moto_auth_setup.py ENDPOINT BUCKET...
"""
import json
import sys

import boto3

endpoint, buckets = sys.argv[1], sys.argv[2:]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="ferry-test")
iam.put_user_policy(UserName="ferry-test", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="ferry-test")["AccessKey"]
iam.create_user(UserName="ferry-lister")
iam.put_user_policy(UserName="ferry-lister", PolicyName="s3-read", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}]}))
lister = iam.create_access_key(UserName="ferry-lister")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
for bucket in buckets:
    s3.create_bucket(Bucket=bucket)
print(key["AccessKeyId"], key["SecretAccessKey"], lister["AccessKeyId"], lister["SecretAccessKey"])
