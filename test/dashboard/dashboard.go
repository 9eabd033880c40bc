// Package dashboard reads the queries of the Grafana dashboard that
// config/monitoring ships, for the tests that parse them (test/gitops) and
// run them against a real Prometheus (test/e2e).
package dashboard

import (
	"encoding/json"
	"errors"
)

// Queries are the PromQL expressions of the dashboard's panels, in order,
// with Grafana's variables ($namespace, $peergroup) as written.
func Queries(dashboardJSON []byte) ([]string, error) {
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, err
	}
	var queries []string
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			queries = append(queries, t.Expr)
		}
	}
	if len(queries) == 0 {
		return nil, errors.New("the dashboard has no queries")
	}
	return queries, nil
}
