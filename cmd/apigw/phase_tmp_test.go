package main

import (
	"context"
	"testing"
	"time"
	"io"
	"fmt"
	"log/slog"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/config"
	"github.com/apigwio/apigw/xds"
	"sigs.k8s.io/yaml"
)

func TestPhasesTmp(t *testing.T) {
	y := []byte(bigConfig(10000, ""))
	js0, _ := yaml.YAMLToJSON(y)
	snap, _ := config.Load("x", js0, config.Options{})
	svc, _ := authz.New(context.Background(), snap, authz.Options{})
	x := xds.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), xds.Options{})
	x.Publish(context.Background(), snap)
	for i := 0; i < 3; i++ {
	y2 := []byte(bigConfig(10000, fmt.Sprintf("      - {name: newx%d, path: /newx%d, auth: none, backend: {url: \"http://10.9.9.9\"}}\n", i, i)))
	js, _ := yaml.YAMLToJSON(y2)
	tm := func(name string, f func()) { s := time.Now(); f(); t.Logf("%-12s %v", name, time.Since(s)) }
	tm("yaml2json", func() { yaml.YAMLToJSON(y2) })
	var snap2 = snap
	var err error
	tm("loadjson", func() { snap2, err = config.Load("x", js, config.Options{}) })
	gw, _ := config.Parse(js)
	tm("parsejson", func() { config.Parse(js) })
	tm("build", func() { config.Build("x", gw, config.Options{}) })
	tm("stage", func() { err = svc.Stage(context.Background(), snap2) })
	tm("translate", func() { xds.Translate(snap2, xds.Options{}) })
	tm("publish", func() { x.Publish(context.Background(), snap2) }); _ = err
	}
}
