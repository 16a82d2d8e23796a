"""Signs one request with the official Huawei Cloud Python SDK's signer
(huaweicloudsdkcore.signer.signer.Signer, as its client calls it) and prints
what to send as JSON: {"uri": "/path?query", "headers": {...}, "body": "..."}.
The end-to-end suite (sdk_test.go) sends it through Envoy.

    .tools/pysdk/bin/python sdk_sign.py METHOD URL AK SK [JSON_BODY]
"""

import json
import sys
from urllib.parse import urlsplit, parse_qsl

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


def main(argv):
    if len(argv) < 5:
        print("usage: sdk_sign.py METHOD URL AK SK [JSON_BODY]", file=sys.stderr)
        return 2
    method, url, ak, sk = argv[1:5]
    body = argv[5] if len(argv) > 5 else None
    u = urlsplit(url)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = SdkRequest(
        method=method,
        schema=u.scheme,
        host=u.netloc,
        resource_path=u.path,
        query_params=parse_qsl(u.query, keep_blank_values=True),
        header_params=headers,
        body=body.encode("utf-8") if body is not None else None,
    )
    Signer(BasicCredentials(ak, sk)).sign(request)
    out = {"uri": request.uri, "headers": dict(request.header_params)}
    if request.body:
        out["body"] = request.body.decode("utf-8")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
