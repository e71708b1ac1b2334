package metad_test

// Error details: metad sends a google.rpc.Status with a refusal, which
// grpc-go's status.FromError(err).Details() unpacks into the errdetails
// messages (Debian's golang-google-genproto-dev).

import (
	"context"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metadv1"
)

func TestErrorDetailsNameTheUnmetParents(t *testing.T) {
	c := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parent, child := name("details_load"), name("details_report")
	for _, task := range []string{parent, child} {
		if _, err := c.Tasks.RegisterTask(ctx, &metadv1.RegisterTaskRequest{Name: task}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Deps.AddDependency(ctx, &metadv1.AddDependencyRequest{ParentTask: parent, ChildTask: child}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: child, BatchId: name("b")})
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("StartRun: %v, want FailedPrecondition", err)
	}
	var info *errdetails.ErrorInfo
	var failure *errdetails.PreconditionFailure
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.PreconditionFailure:
			failure = d
		case error:
			t.Fatalf("undecodable detail: %v", d)
		}
	}
	if info.GetReason() != "PARENTS_NOT_SUCCEEDED" || info.GetDomain() != "metad.dev" {
		t.Errorf("ErrorInfo = %v", info)
	}
	if info.GetMetadata()["parents"] != parent {
		t.Errorf("metadata parents = %q, want %q", info.GetMetadata()["parents"], parent)
	}
	if v := failure.GetViolations(); len(v) != 1 || v[0].GetType() != "DEPENDENCY" || v[0].GetSubject() != parent {
		t.Errorf("violations = %v, want one DEPENDENCY on %s", v, parent)
	}

	// A malformed argument names the field.
	_, err = c.Runs.StartRun(ctx, &metadv1.StartRunRequest{Task: child, BatchId: ""})
	var field string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	if field != "batch_id" {
		t.Errorf("BadRequest field = %q, want batch_id (err %v)", field, err)
	}
}
