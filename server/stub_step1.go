package server

import (
	"context"

	"github.com/go-chi/chi/v5"
)

type registry struct{}

func newRegistry(*Server) *registry                   { return &registry{} }
func (r *registry) stopAll(ctx context.Context) error { return nil }
func (s *Server) apiRoutes(r chi.Router)              {}

type conn struct{}

func (c *conn) closeWith(error) {}

var errGoingAway error
