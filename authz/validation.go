package authz

// Request body validation (validate_request): the body Envoy forwarded
// is validated against the API's compiled body schema, after
// authentication, authorization and the request parameters. APIs without
// validation have a nil model.API.Body and pay one nil check.

import (
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// checkBody refuses, with 400 APIG.0201 naming the failing field, a body
// that is not one JSON value valid against the schema, and a missing body
// when the schema requires one. An empty body is a missing one.
func checkBody(v *model.BodyValidation, r *request) *apigerr.Error {
	if len(r.body) == 0 {
		if v.Required {
			return apigerr.WithDetail(apigerr.RequestError, "body is required")
		}
		return nil
	}
	if f := v.Schema.Validate(r.body); f != nil {
		return apigerr.WithDetail(apigerr.RequestError, f.Message())
	}
	return nil
}
