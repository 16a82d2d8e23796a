// Signs one request with the official Huawei Cloud Node.js SDK's signer
// (AKSKSigner of @huaweicloud/huaweicloud-sdk-core, as its HcClient calls
// it) and prints what to send as JSON: {"headers": {...}, "body": "..."}.
// The end-to-end suite (sdk_test.go) sends it through Envoy.
//
//   NODE_PATH=.tools/node/node_modules node sdk_sign.js METHOD URL AK SK [JSON_BODY]
//
// URL is http://host:port/path?k=v&...; the query becomes the request's
// queryParams, and JSON_BODY (a JSON document) its data, which the SDK sends
// as JSON.stringify(data) with content-type application/json.
'use strict';
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner');
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core');

const [method, rawURL, ak, sk, body] = process.argv.slice(2);
if (!sk) {
  console.error('usage: node sdk_sign.js METHOD URL AK SK [JSON_BODY]');
  process.exit(2);
}
const u = new URL(rawURL);
const queryParams = {};
for (const [k, v] of u.searchParams) {
  queryParams[k] = v;
}
const request = {
  method,
  endpoint: `${u.protocol}//${u.host}${u.pathname}`,
  headers: {},
  queryParams,
};
if (body !== undefined) {
  request.headers['content-type'] = 'application/json';
  request.data = JSON.parse(body);
}
const credentials = new BasicCredentials().withAk(ak).withSk(sk);
const headers = AKSKSigner.sign(request, credentials);
const out = { headers };
if (request.data !== undefined) {
  out.body = JSON.stringify(request.data);
}
process.stdout.write(JSON.stringify(out) + '\n');
