// Checks of the reference itself, kept out of the promref binary (they need Prometheus' TSDB,
// whose dependencies would triple the binary's cold build):
//
//	go test -run TestUpstreamScripts .   # the .test scripts of the pinned Prometheus version;
//	                                     # PROMQL_TESTDATA=dir runs that dir's *.test instead
//	PROMREF_REQUEST=req.json go test -run TestMemoryStorageMatchesTSDB .
//
// The second loads a request (as tests/promql/reference.py writes them when OBSKIT_PROMREF_SAVE
// names a directory) into both the TSDB and promref's in-memory storage and wants the same
// answers from both.
package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
)

func TestUpstreamScripts(t *testing.T) {
	ng := newEngine(5*time.Minute, promqltest.DefaultMaxSamplesPerQuery)
	t.Cleanup(func() { _ = ng.Close() })
	dir := os.Getenv("PROMQL_TESTDATA")
	if dir == "" {
		promqltest.RunBuiltinTests(t, ng)
		return
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.test"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.test files in %s (%v)", dir, err)
	}
	for _, fn := range files {
		t.Run(filepath.Base(fn), func(t *testing.T) {
			content, err := os.ReadFile(fn)
			if err != nil {
				t.Fatal(err)
			}
			promqltest.RunTestWithStorage(t, string(content), ng, func(t testing.TB) storage.Storage {
				return promqltest.NewBuiltinTestStorage(t)
			})
		})
	}
}

func TestMemoryStorageMatchesTSDB(t *testing.T) {
	path := os.Getenv("PROMREF_REQUEST")
	if path == "" {
		t.Skip("PROMREF_REQUEST names no request file")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var req request
	if err := json.NewDecoder(strings.NewReader(string(raw))).Decode(&req); err != nil {
		t.Fatal(err)
	}
	mem, err := load(req.Series)
	if err != nil {
		t.Fatal(err)
	}
	db := teststorage.New(t)
	app := db.Appender(context.Background())
	for _, s := range req.Series {
		lbls := labels.FromMap(s.Labels)
		for j, ts := range s.Timestamps {
			v, err := parseValue(s.Values[j])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := app.Append(0, lbls, ts, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	lookback := time.Duration(req.LookbackMs) * time.Millisecond
	ng := newEngine(lookback, req.MaxSamples)
	t.Cleanup(func() { _ = ng.Close() })
	for _, q := range req.Queries {
		want, got := run(ng, db, q), run(ng, mem, q)
		if !reflect.DeepEqual(unordered(want), unordered(got)) {
			t.Errorf("%s at %v/%d..%d/%d:\n tsdb   %+v\n memory %+v", q.Expr, q.Time, q.Start, q.End, q.Step, want, got)
		}
	}
	t.Logf("%d queries over %d series agree", len(req.Queries), len(req.Series))
}

// unordered sorts a vector by labels: outside sort() its order means nothing (it follows hash
// maps in aggregations).
func unordered(r result) result {
	if items, ok := r.Result.([]item); ok && r.ResultType == "vector" {
		items = slices.Clone(items)
		slices.SortFunc(items, func(a, b item) int {
			return labels.Compare(labels.FromMap(a.Metric), labels.FromMap(b.Metric))
		})
		r.Result = items
	}
	return r
}
