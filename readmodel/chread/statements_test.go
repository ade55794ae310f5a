package chread

import (
	"testing"

	"github.com/duroscope/duroscope/readmodel/chconn/chconntest"
)

// TestEveryStatementIsUsed keeps sql/ and the code in step (chconntest).
func TestEveryStatementIsUsed(t *testing.T) {
	chconntest.CheckStatementsUsed(t, statements.Names())
}
