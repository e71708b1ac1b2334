package metad

import (
	"context"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/metad-project/metad/clients/go/metadv1"
)

// MaxRegisterBatch is the most files one RegisterFiles call takes.
const MaxRegisterBatch = 1000

// RegisterSummary totals a RegisterInChunks call.
type RegisterSummary struct {
	// Files sent, including those already registered.
	Files int
	// Files this call created.
	Created int
	// RegisterFiles calls made.
	Calls int
}

// RegisterInChunks registers files with RegisterFiles, chunk files per call
// (1..MaxRegisterBatch; 0 means MaxRegisterBatch). Each chunk is one
// transaction with its own request_id and is retried as a creating call; a
// failed chunk stops the work and is returned with the totals of the chunks
// before it (registering them again later is harmless: dedupe). onChunk,
// when not nil, sees every chunk's response.
func (c *Client) RegisterInChunks(ctx context.Context, files []*metadv1.FileSpec, chunk int,
	onChunk func(*metadv1.RegisterFilesResponse)) (RegisterSummary, error) {
	if chunk == 0 {
		chunk = MaxRegisterBatch
	}
	if chunk < 1 || chunk > MaxRegisterBatch {
		return RegisterSummary{}, fmt.Errorf("metad: chunk size %d is not in 1..%d", chunk, MaxRegisterBatch)
	}
	var sum RegisterSummary
	for start := 0; start < len(files); start += chunk {
		end := start + chunk
		if end > len(files) {
			end = len(files)
		}
		resp, err := c.Files.RegisterFiles(ctx, &metadv1.RegisterFilesRequest{
			Files:     files[start:end],
			RequestId: NewRequestID(),
		})
		if err != nil {
			return sum, &ChunkError{First: start, Last: end - 1, Err: err}
		}
		sum.Files += end - start
		sum.Created += int(resp.GetCreatedCount())
		sum.Calls++
		if onChunk != nil {
			onChunk(resp)
		}
	}
	return sum, nil
}

// ChunkError is the failure of one RegisterFiles call of RegisterInChunks:
// the files First..Last (indexes into the slice given) were not registered
// by it. status.Code and status.FromError see the call's gRPC status.
type ChunkError struct {
	First, Last int
	Err         error
}

func (e *ChunkError) Error() string {
	return fmt.Sprintf("metad: RegisterFiles of files %d..%d: %v", e.First, e.Last, e.Err)
}

func (e *ChunkError) Unwrap() error { return e.Err }

// GRPCStatus lets status.Code(err) see through the wrapper (grpc-go 1.33's
// status package does not unwrap errors).
func (e *ChunkError) GRPCStatus() *status.Status {
	s, _ := status.FromError(e.Err)
	return s
}
