package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/duroscope/duroscope/events"
	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/projtest"
	"github.com/duroscope/duroscope/internal/testenv"
)

// TestProjectorFailsLoudly deletes the projector process's consumer under
// it: the pipeline cannot go on, so the process must exit non-zero with the
// reason in its log (it used to log the pull error, drain, return nil and
// exit 0, with /healthz saying ok until then).
func TestProjectorFailsLoudly(t *testing.T) {
	n := testenv.StartNATS(t)
	db := testenv.NewDatabase(t, "relfail")
	publishEvents(t, n.JS, workload(41, 200))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	proj := startProc(t, "projector", binary(t, "projector"), nil,
		projectorEnv(n.URL, db.Addr, db.Name, "DUROSCOPE_PROJECTOR_HTTP_ADDR="+addr))
	projtest.WaitCaughtUp(t, n.JS, 2*time.Minute)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz of a working projector: %d", resp.StatusCode)
	}
	if err := n.JS.DeleteConsumer(context.Background(), events.DefaultStream, projector.ConsumerPrefix); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proj.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the projector still runs 30s after its consumer was deleted\n%s", tail(proj.log(), 2000))
	}
	var exit *exec.ExitError
	if !errors.As(proj.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("projector exit: %v, want exit status 1", proj.err)
	}
	if log := proj.log(); !strings.Contains(log, `"projector failed"`) || !strings.Contains(log, "consumer deleted") {
		t.Errorf("the log does not give the failure:\n%s", tail(log, 2000))
	}
}
