#!/usr/bin/env python3
"""Signs random S3 requests with botocore's SigV4 signer (the reference) and writes them as test
vectors for `corral backupstore sigv4-check`. usage: sigv4_vectors.py OUT.json [COUNT]"""
import json, random, sys, datetime
from urllib.parse import quote
import botocore.auth, botocore.credentials, botocore.awsrequest

out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
rng = random.Random(42)
alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~ +=$&@:,;!*'()"
def word(n=None): return "".join(rng.choice(alphabet) for _ in range(n or rng.randint(1, 12)))
vectors = []
for i in range(count):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE"])
    key = "/".join(word() for _ in range(rng.randint(1, 4)))
    path = "/" + ("corral-bucket/" if rng.random() < 0.5 else "") + quote(key, safe="/-_.~")
    query = [[word(), word()] for _ in range(rng.randint(0, 3))]
    host = rng.choice(["127.0.0.1:9000", "bucket.s3.eu-west-1.amazonaws.com", "s3.amazonaws.com"])
    headers = {}
    if rng.random() < 0.3: headers["Range"] = "bytes=0-%d" % rng.randint(1, 9999)
    if rng.random() < 0.3: headers["x-amz-meta-note"] = "  two  spaces  inside "
    body = word(rng.randint(0, 64)).encode() if method == "PUT" else b""
    region = rng.choice(["us-east-1", "eu-west-1", "ap-south-1"])
    access, secret = "AKIA" + word(16), word(40)
    url = "http://" + host + path + ("?" + "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in query) if query else "")
    request = botocore.awsrequest.AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    signer = botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(access, secret), "s3", region)
    signer.add_auth(request)
    # The signer stamps the current time; the vector carries the stamp it used.
    stamp = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    epoch = int(stamp.timestamp())
    # botocore hashes the body itself and sends it as x-amz-content-sha256.
    payload = request.headers["X-Amz-Content-SHA256"]
    vectors.append({"method": method, "host": host, "path": path, "query": query, "headers": headers, "payloadHash": payload,
                    "date": epoch, "accessKey": access, "secretKey": secret, "region": region,
                    "authorization": request.headers["Authorization"]})
json.dump(vectors, open(out, "w"))
print(f"{len(vectors)} vectors signed by botocore {botocore.__version__}", file=sys.stderr)
