package server

import (
	"context"

	"github.com/apigwio/apigw/internal/config/reload"
	"github.com/apigwio/apigw/xds"
)

// certificateWatcher is implemented by an XDS side that serves certificate
// files over SDS (xds.Server): it re-reads them when they change.
type certificateWatcher interface {
	WatchCertificates(context.Context)
	CertificateStatus() []xds.CertificateStatus
}

// reloadStatusWithCertificates is /debug/reload: the configuration's
// reload status and, when certificates are served over SDS, the state of
// each (a change that did not load is reported there, while the previous
// certificate keeps serving).
type reloadStatusWithCertificates struct {
	reload.Status
	Certificates []xds.CertificateStatus `json:"certificates,omitempty"`
}

func (s *Server) reloadStatus() any {
	st := reloadStatusWithCertificates{Status: s.reloader.Status()}
	if w, ok := s.opts.XDS.(certificateWatcher); ok {
		st.Certificates = w.CertificateStatus()
	}
	return st
}
