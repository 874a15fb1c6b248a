// Command promref evaluates PromQL queries with Prometheus' own engine, as the reference that
// obskit's differential tests compare against.
//
// It reads one JSON request from stdin: series to load and queries to run, and prints one JSON
// response with a result per query, in order. The series are encoded in Prometheus' XOR chunks
// (as its TSDB stores floats) and served to the engine by a small in-memory storage.Queryable:
// the TSDB package itself would pull the module graph of Prometheus' remote-write and service
// discovery clients into the build, making a cold build several times slower. The engine is set up as the
// upstream test engine (promqltest.NewTestEngine): lookback 5m unless the request says otherwise,
// 1m default subquery step, @ and negative offset on, delayed name removal, experimental
// functions, max 10,000 samples per query unless the request says otherwise.
//
// Request:
//
//	{"lookback_ms": 300000, "max_samples": 10000,
//	 "series": [{"labels": {"__name__": "x", "job": "a"},
//	             "timestamps": [0, 15000], "values": ["1", "stale"]}],
//	 "queries": [{"expr": "x", "time": 15000},
//	             {"expr": "rate(x[1m])", "start": 0, "end": 60000, "step": 15000}]}
//
// Values are strings: anything strconv.ParseFloat reads ("1.5", "NaN", "+Inf", "-Inf"),
// "stale" for the staleness marker, or "0x..." for raw IEEE-754 bits.
//
// Response: {"results": [{"resultType": "vector", "result": [...]} | {"error": "...",
// "errorType": "..."}]} where vector items are {"metric": {...}, "t": ms, "v": "1.5"}, matrix
// items are {"metric": {...}, "t": [ms...], "v": ["1.5"...]}, scalars and strings are
// {"t": ms, "v": "..."}. Floats are printed as the shortest string that reads back exactly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

type seriesIn struct {
	Labels     map[string]string `json:"labels"`
	Timestamps []int64           `json:"timestamps"`
	Values     []string          `json:"values"`
}

type queryIn struct {
	Expr  string `json:"expr"`
	Time  *int64 `json:"time"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Step  int64  `json:"step"`
}

type request struct {
	LookbackMs int64      `json:"lookback_ms"`
	MaxSamples int        `json:"max_samples"`
	Series     []seriesIn `json:"series"`
	Queries    []queryIn  `json:"queries"`
}

type item struct {
	Metric map[string]string `json:"metric,omitempty"`
	T      any               `json:"t"`
	V      any               `json:"v"`
}

type result struct {
	ResultType string   `json:"resultType,omitempty"`
	Result     any      `json:"result,omitempty"`
	Error      string   `json:"error,omitempty"`
	ErrorType  string   `json:"errorType,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	Infos      []string `json:"infos,omitempty"`
}

func parseValue(s string) (float64, error) {
	switch {
	case s == "stale":
		return math.Float64frombits(value.StaleNaN), nil
	case strings.HasPrefix(s, "0x"):
		b, err := strconv.ParseUint(s[2:], 16, 64)
		return math.Float64frombits(b), err
	}
	return strconv.ParseFloat(s, 64)
}

func fmtFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// memSeries is a series held in one XOR chunk.
type memSeries struct {
	lset labels.Labels
	chk  *chunkenc.XORChunk
}

func (s memSeries) Labels() labels.Labels { return s.lset }

func (s memSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator { return s.chk.Iterator(it) }

// seriesSet iterates over selected series.
type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i <= len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.i-1] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// memStorage is a storage.Queryable over series in the order they were loaded. As the TSDB head
// it returns them in that order (series IDs ascending) unless asked to sort them by labels: the
// order decides ties in topk, bottomk and limitk.
type memStorage []memSeries

func (m memStorage) Querier(int64, int64) (storage.Querier, error) {
	return &storage.MockQuerier{SelectMockFunction: m.selectSeries}, nil
}

func (m memStorage) selectSeries(sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	out := &seriesSet{}
	for _, s := range m {
		matches := true
		for _, matcher := range ms {
			matches = matches && matcher.Matches(s.lset.Get(matcher.Name))
		}
		if matches {
			out.series = append(out.series, s)
		}
	}
	if sortSeries {
		slices.SortFunc(out.series, func(a, b storage.Series) int {
			return labels.Compare(a.Labels(), b.Labels())
		})
	}
	return out
}

func load(series []seriesIn) (memStorage, error) {
	out := make(memStorage, 0, len(series))
	for i, s := range series {
		if len(s.Timestamps) != len(s.Values) {
			return nil, fmt.Errorf("series %d: %d timestamps but %d values", i, len(s.Timestamps), len(s.Values))
		}
		if len(s.Timestamps) > math.MaxUint16 {
			return nil, fmt.Errorf("series %d: more than %d samples", i, math.MaxUint16)
		}
		if len(s.Timestamps) == 0 {
			continue // the TSDB holds no series without samples
		}
		chk := chunkenc.NewXORChunk()
		app, err := chk.Appender()
		if err != nil {
			return nil, err
		}
		for j, t := range s.Timestamps {
			v, err := parseValue(s.Values[j])
			if err != nil {
				return nil, fmt.Errorf("series %d sample %d: %w", i, j, err)
			}
			if j > 0 && t <= s.Timestamps[j-1] {
				return nil, fmt.Errorf("series %d sample %d: timestamps must increase", i, j)
			}
			app.Append(0, t, v)
		}
		out = append(out, memSeries{lset: labels.FromMap(s.Labels), chk: chk})
	}
	seen := make(map[uint64]labels.Labels, len(out))
	for _, s := range out {
		if prev, ok := seen[s.lset.Hash()]; ok && labels.Equal(prev, s.lset) {
			return nil, fmt.Errorf("series %s given twice", s.lset)
		}
		seen[s.lset.Hash()] = s.lset
	}
	return out, nil
}

func metric(l labels.Labels) map[string]string {
	m := l.Map()
	if m == nil {
		m = map[string]string{}
	}
	return m
}

func convert(v parser.Value) (string, any) {
	switch v := v.(type) {
	case promql.Scalar:
		return "scalar", item{T: v.T, V: fmtFloat(v.V)}
	case promql.String:
		return "string", item{T: v.T, V: v.V}
	case promql.Vector:
		out := make([]item, 0, len(v))
		for _, s := range v {
			if s.H != nil {
				out = append(out, item{Metric: metric(s.Metric), T: s.T, V: "histogram"})
				continue
			}
			out = append(out, item{Metric: metric(s.Metric), T: s.T, V: fmtFloat(s.F)})
		}
		return "vector", out
	case promql.Matrix:
		out := make([]item, 0, len(v))
		for _, s := range v {
			ts := make([]int64, 0, len(s.Floats))
			vs := make([]string, 0, len(s.Floats))
			for _, p := range s.Floats {
				ts = append(ts, p.T)
				vs = append(vs, fmtFloat(p.F))
			}
			for _, p := range s.Histograms {
				ts = append(ts, p.T)
				vs = append(vs, "histogram")
			}
			out = append(out, item{Metric: metric(s.Metric), T: ts, V: vs})
		}
		return "matrix", out
	}
	return "unknown", nil
}

func errorType(err error) string {
	var perrs parser.ParseErrors
	var perr *parser.ParseErr
	var timeout promql.ErrQueryTimeout
	var canceled promql.ErrQueryCanceled
	switch {
	case errors.As(err, &perrs), errors.As(err, &perr):
		return "bad_data"
	case errors.As(err, &timeout):
		return "timeout"
	case errors.As(err, &canceled):
		return "canceled"
	}
	return "execution"
}

func run(ng *promql.Engine, st storage.Queryable, q queryIn) (res result) {
	ctx := context.Background()
	var (
		qry promql.Query
		err error
	)
	if q.Time != nil {
		qry, err = ng.NewInstantQuery(ctx, st, nil, q.Expr, time.UnixMilli(*q.Time))
	} else {
		qry, err = ng.NewRangeQuery(ctx, st, nil, q.Expr, time.UnixMilli(q.Start), time.UnixMilli(q.End),
			time.Duration(q.Step)*time.Millisecond)
	}
	if err != nil { // the HTTP API answers bad_data to whatever fails here
		return result{Error: err.Error(), ErrorType: "bad_data"}
	}
	defer qry.Close()
	r := qry.Exec(ctx)
	if r.Err != nil {
		return result{Error: r.Err.Error(), ErrorType: errorType(r.Err)}
	}
	res.ResultType, res.Result = convert(r.Value)
	res.Warnings, res.Infos = r.Warnings.AsStrings(q.Expr, 0, 0)
	return res
}

// newEngine is promqltest.NewTestEngine's engine with the given lookback and sample limit.
func newEngine(lookback time.Duration, maxSamples int) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples:               maxSamples,
		Timeout:                  100 * time.Second,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		LookbackDelta:            lookback,
		EnableDelayedNameRemoval: true,
		UseStartTimestamps:       true,
		// promqltest.TestParserOpts
		Parser: parser.NewParser(parser.Options{
			EnableExperimentalFunctions: true,
			EnableBinopFillModifiers:    true,
			EnableUnquotedUTF8Names:     true,
		}),
	})
}

func main() {
	var req request
	dec := json.NewDecoder(os.Stdin)
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "promref: cannot read request:", err)
		os.Exit(2)
	}
	lookback := 5 * time.Minute
	if req.LookbackMs > 0 {
		lookback = time.Duration(req.LookbackMs) * time.Millisecond
	}
	maxSamples := 10000 // promqltest.DefaultMaxSamplesPerQuery
	if req.MaxSamples > 0 {
		maxSamples = req.MaxSamples
	}
	ng := newEngine(lookback, maxSamples)
	defer ng.Close()

	st, err := load(req.Series)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promref: cannot load series:", err)
		os.Exit(2)
	}

	results := make([]result, 0, len(req.Queries))
	for _, q := range req.Queries {
		results = append(results, run(ng, st, q))
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]any{"results": results}); err != nil {
		fmt.Fprintln(os.Stderr, "promref: cannot write response:", err)
		os.Exit(1)
	}
}
