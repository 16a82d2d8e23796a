package config

// Request body validation (api.validate_request, api.request.body_schema):
// docs/configuration.md, "Request validation". The schema is compiled
// here, once per load (an unchanged group's model, schema included, is
// reused by the next load), and shared by Check.

import (
	"github.com/apigwio/apigw/internal/bodyschema"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// bodyValidation compiles the API's body schema (refused with its path
// when it does not compile, whether validation is on or not) and returns
// the validation Check runs: nil unless validate_request.
func (b *builder) bodyValidation(path string, a *configv1.Api) *model.BodyValidation {
	req := a.GetRequest()
	var s *bodyschema.Schema
	if text := req.GetBodySchema(); text != "" {
		var err error
		if s, err = bodyschema.Compile(text); err != nil {
			b.ps.add(field(path, "request.body_schema"), "%v", err)
			return nil
		}
	}
	if !a.GetValidateRequest() {
		return nil
	}
	if s == nil {
		b.ps.add(field(path, "validate_request"), "validate_request needs request.body_schema (request parameters are validated whenever they are declared)")
		return nil
	}
	if a.GetWebsocket() {
		b.ps.add(field(path, "validate_request"), "validate_request does not apply to a websocket API (an upgrade request has no body)")
		return nil
	}
	return &model.BodyValidation{Schema: s, Required: req.GetBodyRequired()}
}
