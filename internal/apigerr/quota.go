package apigerr

// QuotaUsedUp is the answer to a request over a calendar quota (apps[].quota,
// a usage plan's week or month quota): the platform's APIG.0501 code and
// message, with status 429 rather than the 405 the platform documents for
// APIG.0501, so that it reads as throttling to clients and proxies, like
// every other limit the gateway enforces (Envoy's rate-limit replies are
// 429). Not in Catalogue, which lists the platform's entries.
var QuotaUsedUp = Code{AppQuotaUsedUp.ID, 429, AppQuotaUsedUp.Message}

// TencentQuotaExceeded is the tencent-dialect message of a quota, the same
// as Envoy's reply for a usage plan's rate-limited quota.
const TencentQuotaExceeded = "API quota exceeded."
