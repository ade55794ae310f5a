//go:build chdb

package chcompat

/*
#cgo LDFLAGS: -lchdb
#include <stdlib.h>

// The few declarations of libchdb's C API (chdb.h of chdb-io/chdb, which the
// npm package does not ship) that this binding uses.
typedef struct chdb_result_ { void * internal_data; } chdb_result;
typedef struct chdb_connection_ { void * internal_data; } * chdb_connection;

chdb_connection * chdb_connect(int argc, char ** argv);
void chdb_close_conn(chdb_connection * conn);
chdb_result * chdb_query_n(chdb_connection conn, const char * query, size_t query_len, const char * format, size_t format_len);
char * chdb_result_buffer(chdb_result * result);
size_t chdb_result_length(chdb_result * result);
const char * chdb_result_error(chdb_result * result);
void chdb_destroy_query_result(chdb_result * result);
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// ChDB is the ClickHouse engine of libchdb, in this process. libchdb allows
// one storage path per process: open one ChDB per test process.
type ChDB struct {
	mu   sync.Mutex
	conn *C.chdb_connection
}

// OpenChDB starts the engine with its data under dir.
func OpenChDB(dir string) (*ChDB, error) {
	args := []string{"chdb", "--path=" + dir}
	argv := make([]*C.char, len(args))
	for i, a := range args {
		argv[i] = C.CString(a)
		defer C.free(unsafe.Pointer(argv[i]))
	}
	conn := C.chdb_connect(C.int(len(argv)), &argv[0])
	if conn == nil {
		return nil, fmt.Errorf("chdb: connect with data path %s failed", dir)
	}
	return &ChDB{conn: conn}, nil
}

// Query runs one statement and returns its output in format.
//
// libchdb keeps what a failed statement wrote before its error (e.g. the
// header row) and prepends it to the next statement's output; after an
// error a throw-away statement takes that residue.
func (e *ChDB) Query(sql, format string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil, errors.New("chdb: closed")
	}
	out, err := e.query(sql, format)
	if err != nil {
		if _, ferr := e.query("SELECT 1", "Null"); ferr != nil {
			return nil, errors.Join(err, fmt.Errorf("chdb: flush after error: %w", ferr))
		}
	}
	return out, err
}

func (e *ChDB) query(sql, format string) ([]byte, error) {
	cq := C.CString(sql)
	defer C.free(unsafe.Pointer(cq))
	cf := C.CString(format)
	defer C.free(unsafe.Pointer(cf))
	r := C.chdb_query_n(*e.conn, cq, C.size_t(len(sql)), cf, C.size_t(len(format)))
	if r == nil {
		return nil, errors.New("chdb: query returned no result")
	}
	defer C.chdb_destroy_query_result(r)
	if msg := C.chdb_result_error(r); msg != nil {
		return nil, ParseException(C.GoString(msg))
	}
	n := C.chdb_result_length(r)
	if n == 0 {
		return nil, nil
	}
	return C.GoBytes(unsafe.Pointer(C.chdb_result_buffer(r)), C.int(n)), nil
}

// Close shuts the engine down.
func (e *ChDB) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		C.chdb_close_conn(e.conn)
		e.conn = nil
	}
	return nil
}
