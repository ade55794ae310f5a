package main

import (
	"context"
	"fmt"

	"github.com/duroscope/duroscope/internal/projector"
	"github.com/duroscope/duroscope/internal/recount"
	"github.com/duroscope/duroscope/projection"
	"github.com/duroscope/duroscope/readmodel/chconn"
	"github.com/duroscope/duroscope/readmodel/chwrite"
)

// clickhouseStore is the ClickHouse writer as the projector's Store: a
// write the server refused (chconn.IsRefused knows which errors those are)
// wraps projector.ErrRefused, as the port requires. (chwrite cannot return
// it itself: the projector imports chwrite's row types.)
type clickhouseStore struct{ *chwrite.Writer }

func (s clickhouseStore) WriteHistory(ctx context.Context, rows []chwrite.HistoryRow) error {
	return refusal(s.Writer.WriteHistory(ctx, rows))
}

func (s clickhouseStore) WriteRows(ctx context.Context, rows []projection.Rows) (recount.Cells, error) {
	cells, err := s.Writer.WriteRows(ctx, rows)
	return cells, refusal(err)
}

// DropExpired marks every error but an outage (chconn.IsUnavailable) as
// permanent: a retention that cannot drop for another reason (a table
// missing, a statement the server refuses) is a defect to see at once, not
// to retry every hour.
func (s clickhouseStore) DropExpired(ctx context.Context, c chwrite.Cutoffs) ([]chwrite.DroppedPartition, error) {
	dropped, err := s.Writer.DropExpired(ctx, c)
	if err != nil && !chconn.IsUnavailable(err) {
		err = fmt.Errorf("%w: %w", err, projector.ErrPermanent)
	}
	return dropped, err
}

// refusal marks err as a refusal of the rows written when it is one.
func refusal(err error) error {
	if err != nil && chconn.IsRefused(err) {
		return fmt.Errorf("%w: %w", err, projector.ErrRefused)
	}
	return err
}
