package metad_test

import (
	"context"
	"testing"

	"github.com/metad-project/metad/clients/go/metad"
	"github.com/metad-project/metad/clients/go/metadv1"
)

// Labels set through WorkerOptions come back on the run, and ListRuns
// selects by them (issue 15).
func TestWorkerRunLabelsAreSelectable(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	task, batch, _ := workerSetup(t, c, "labels", 1)
	w, err := metad.StartWorkerRun(ctx, c, task, batch, metad.WorkerOptions{
		LeaseSeconds: 30, Labels: map[string]string{"env": "prod", "sha": batch}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.StopHeartbeats()
	if got := w.Run().GetLabels(); got["env"] != "prod" || got["sha"] != batch {
		t.Fatalf("labels %v", got)
	}
	resp, err := c.Runs.ListRuns(ctx, &metadv1.ListRunsRequest{
		LabelSelector: metad.MatchLabels(map[string]string{"sha": batch})})
	if err != nil || len(resp.GetRuns()) != 1 || resp.GetRuns()[0].GetId() != w.ID() {
		t.Fatalf("ListRuns by label: %v, %v; want run %d", resp, err, w.ID())
	}
}
