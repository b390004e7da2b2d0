"""Prepares a moto_server to check credentials: an IAM user with an access key that may use S3.
Prints "KEY_ID SECRET". Checking starts when the test posts 0 to /moto-api/reset-auth; from then on
moto verifies each request's key and SigV4 signature."""
import json
import sys

import boto3

endpoint = sys.argv[1]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="corral")
key = iam.create_access_key(UserName="corral")["AccessKey"]
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy(UserName="corral", PolicyName="s3", PolicyDocument=json.dumps(policy))
print(key["AccessKeyId"], key["SecretAccessKey"])
